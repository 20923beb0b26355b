"""Admin page (leads only): accounts (create, role, disable/enable, Label Studio email) and the project's guidelines.

No form: Enter in a text field only commits its text; each change is made by its button alone."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import select

from annotator.ui_common import acting, message_area, require_identity, transaction
from db.errors import Conflict
from db.models import Reviewer
from db.queries.accounts import create_account, set_active, set_role
from db.queries.guidelines import current_guidelines, save_guidelines
from db.queries.review import ROLES, link_email

FLASH = "admin_flash"


def _act(lead_id: int, action: str) -> None:
    state = st.session_state
    try:
        with transaction(write=True) as session:
            lead = acting(session, lead_id, role="lead")
            if action == "create":
                create_account(session, state.get("admin_new_name", ""), state["admin_new_role"],
                               state.get("admin_new_password", ""), by=lead)
                message = f"Account {state['admin_new_name']} created; give them the password privately."
            elif action == "guidelines":
                saved = save_guidelines(session, state.get("admin_guidelines", ""), lead)
                message = f"Guidelines saved as version {saved.version}; every task shows them now."
            else:
                name = state["admin_name"]
                if action == "role":
                    set_role(session, name, state["admin_role"], by=lead)
                elif action in ("disable", "enable"):
                    set_active(session, name, action == "enable", by=lead)
                else:
                    link_email(session, name, state.get("admin_email", ""), lead)
                message = f"{name}: {action} done."
    except (ValueError, Conflict) as exc:
        st.session_state[FLASH] = ("error", str(exc))
        return
    if action == "create":
        state["admin_new_password"] = ""
    st.session_state[FLASH] = ("success", message)


def render() -> None:
    st.title("Accounts and guidelines")
    identity = require_identity()
    if identity is None:
        message_area(FLASH)  # an action refused because the account was disabled says why
        return
    if identity[2] != "lead":
        st.warning("Only leads manage accounts.")
        return
    with transaction() as session:
        people = [{"name": r.name, "role": r.role, "active": r.active, "can sign in": r.password_hash is not None,
                   "Label Studio email": r.email or ""} for r in session.scalars(select(Reviewer).order_by(Reviewer.name))]
        guide = current_guidelines(session)
    st.dataframe(pd.DataFrame(people), hide_index=True)
    message_area(FLASH)
    with st.container(border=True):
        st.markdown("**New account**")
        cols = st.columns(3)
        cols[0].text_input("Name", key="admin_new_name")
        cols[1].selectbox("Role", ROLES, key="admin_new_role")
        cols[2].text_input("Initial password (8+ characters)", type="password", key="admin_new_password")
        st.button("Create account", on_click=_act, args=(identity[0], "create"))
    with st.container(border=True):
        st.markdown("**Change an account**")
        cols = st.columns(3)
        cols[0].selectbox("Account", [p["name"] for p in people], key="admin_name")
        cols[1].selectbox("Role", ROLES, key="admin_role")
        cols[2].text_input("Label Studio email", key="admin_email")
        buttons = st.columns(4)
        buttons[0].button("Set role", on_click=_act, args=(identity[0], "role"))
        buttons[1].button("Disable", on_click=_act, args=(identity[0], "disable"))
        buttons[2].button("Enable", on_click=_act, args=(identity[0], "enable"))
        buttons[3].button("Link email", on_click=_act, args=(identity[0], "link"))
    with st.container(border=True):
        st.markdown(f"**Guidelines** (now {'version ' + str(guide.version) if guide.version else 'the built-in text'}"
                    "; Markdown; shown beside every task and named by every export)")
        if "admin_guidelines" not in st.session_state:
            st.session_state["admin_guidelines"] = guide.text
        st.text_area("Guidelines", key="admin_guidelines", height=260, label_visibility="collapsed")
        st.button("Save as a new version", on_click=_act, args=(identity[0], "guidelines"))
