"""Admin page (leads only): create accounts, set roles, disable or enable them, link Label Studio emails."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import select

from annotator.ui_common import acting, flash, require_identity, transaction
from db.models import Reviewer
from db.queries.accounts import create_account, set_active, set_role
from db.queries.review import ROLES, link_email

FLASH = "admin_flash"


def _act(lead_id: int, action: str) -> None:
    state = st.session_state
    try:
        with transaction(write=True) as session:
            lead = acting(session, lead_id, role="lead")
            if action == "create":
                create_account(session, state["admin_new_name"], state["admin_new_role"], state["admin_new_password"],
                               by=lead)
                message = f"Account {state['admin_new_name']} created; give them the password privately."
            else:
                name = state["admin_name"]
                if action == "role":
                    set_role(session, name, state["admin_role"], by=lead)
                elif action in ("disable", "enable"):
                    set_active(session, name, action == "enable", by=lead)
                else:
                    link_email(session, name, state["admin_email"], lead)
                message = f"{name}: {action} done."
        st.session_state[FLASH] = ("success", message)
    except ValueError as exc:
        st.session_state[FLASH] = ("error", str(exc))


def render() -> None:
    st.title("Accounts")
    identity = require_identity()
    if identity is None:
        flash(FLASH)  # an action refused because the account was disabled says why
        return
    if identity[2] != "lead":
        st.warning("Only leads manage accounts.")
        return
    with transaction() as session:
        people = [{"name": r.name, "role": r.role, "active": r.active, "can sign in": r.password_hash is not None,
                   "Label Studio email": r.email or ""} for r in session.scalars(select(Reviewer).order_by(Reviewer.name))]
    st.dataframe(pd.DataFrame(people), hide_index=True)
    flash(FLASH)
    with st.form("admin_create", border=True):
        st.markdown("**New account**")
        cols = st.columns(3)
        cols[0].text_input("Name", key="admin_new_name")
        cols[1].selectbox("Role", ROLES, key="admin_new_role")
        cols[2].text_input("Initial password (8+ characters)", type="password", key="admin_new_password")
        st.form_submit_button("Create account", on_click=_act, args=(identity[0], "create"))
    with st.form("admin_change", border=True):
        st.markdown("**Change an account**")
        cols = st.columns(3)
        cols[0].selectbox("Account", [p["name"] for p in people], key="admin_name")
        cols[1].selectbox("Role", ROLES, key="admin_role")
        cols[2].text_input("Label Studio email", key="admin_email")
        buttons = st.columns(4)
        buttons[0].form_submit_button("Set role", on_click=_act, args=(identity[0], "role"))
        buttons[1].form_submit_button("Disable", on_click=_act, args=(identity[0], "disable"))
        buttons[2].form_submit_button("Enable", on_click=_act, args=(identity[0], "enable"))
        buttons[3].form_submit_button("Link email", on_click=_act, args=(identity[0], "link"))
