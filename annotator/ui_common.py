"""Shared Streamlit helpers: cached engine, current reviewer, one transaction per callback."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, write_transaction
from db.models import Reviewer
from db.queries.accounts import (
    AccessDenied,
    acting_reviewer,
    authenticate,
    close_web_session,
    open_web_session,
    reviewer_for_token,
)
from db.settings import get_settings


@st.cache_resource
def engine_for(url: str) -> Engine:
    return make_engine(url)


def session_factory() -> sessionmaker[Session]:
    return make_session_factory(engine_for(get_settings().database_url))


@contextmanager
def transaction(write: bool = False) -> Iterator[Session]:
    """One callback's unit of work; `write=True` where it claims or decides (BEGIN IMMEDIATE on SQLite)."""
    if write:
        with write_transaction(session_factory()) as session:
            yield session
        return
    with session_factory().begin() as session:
        yield session


TOKEN = "session"  # query parameter carrying the browser session's token (its sha256 is in web_sessions)


def current_identity() -> tuple[int, str, str] | None:
    """(reviewer id, name, role) of the signed-in account, read fresh from the database; survives page changes and
    reloads through the session token in the URL; None when signed out, expired or disabled."""
    token = session_token()
    if not token:
        return None
    with transaction() as session:
        reviewer = reviewer_for_token(session, token)
        identity = (reviewer.id, reviewer.name, reviewer.role) if reviewer is not None else None
    if identity is None:
        st.session_state.pop(TOKEN, None)
        st.query_params.pop(TOKEN, None)
        return None
    st.session_state[TOKEN] = token
    st.query_params[TOKEN] = token  # page links drop query parameters: put it back on every page
    return identity


def _sign_in() -> None:
    name, password = st.session_state.get("signin_name", ""), st.session_state.get("signin_password", "")
    with transaction(write=True) as session:
        try:
            token = open_web_session(session, authenticate(session, name, password))
        except AccessDenied as exc:  # caught inside: the failure (and the back-off) is committed
            st.session_state["signin_error"] = str(exc)
            return
    st.session_state[TOKEN] = token
    st.query_params[TOKEN] = token
    st.session_state["signin_password"] = ""


def _sign_out() -> None:
    token = st.session_state.pop(TOKEN, None)
    st.query_params.pop(TOKEN, None)
    if token:
        with transaction(write=True) as session:
            close_web_session(session, token)


def sidebar_account(identity: tuple[int, str, str] | None) -> None:
    with st.sidebar:
        if identity is not None:
            st.caption(f"Signed in as {identity[1]} ({identity[2]})")
            st.button("Sign out", key="signout", on_click=_sign_out)
            return
        with st.form("signin", border=False):
            st.text_input("Name", key="signin_name")
            st.text_input("Password", type="password", key="signin_password")
            st.form_submit_button("Sign in", key="signin_submit", type="primary", on_click=_sign_in)
        error = st.session_state.pop("signin_error", None)
        if error:
            st.error(error)
        st.caption("No account? A lead creates one (Admin page, or `lumicrs annotate add-reviewer`).")


def session_token() -> str | None:
    """This browser session's sign-in token: from the URL (it survives reloads) or the session state."""
    return st.query_params.get(TOKEN) or st.session_state.get(TOKEN)


def acting(session: Session, rendered_id: int, role: str | None = None) -> Reviewer:
    """The account this browser session acts for, re-read and locked in the action's own transaction (an account
    disabled or demoted after the page was drawn cannot act); AccessDenied (a ValueError) otherwise."""
    return acting_reviewer(session, session_token(), rendered_id, role=role)


def require_identity() -> tuple[int, str, str] | None:
    identity = current_identity()
    if identity is None:
        st.info("Sign in with your account in the sidebar to start.")
    return identity


def show_turns(turns: list[dict[str, str]]) -> None:
    """Dialogue turns as plain text: content is never rendered as Markdown/HTML (no images, links or fake labels)."""
    for turn in turns:
        with st.chat_message("user" if turn["role"] == "seeker" else "assistant"):
            st.text(f"{turn['role'].capitalize()}: {turn['text']}")


def escape_markdown(text: str) -> str:
    """Text that Markdown shows literally (a title inside a heading cannot add links, images or emphasis)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", text)


def flash(key: str) -> None:
    """Show (once) the message a callback left under `key`, where the caller puts it: beside the controls."""
    message = st.session_state.pop(key, None)
    if message:
        {"success": st.success, "error": st.error, "info": st.info}[message[0]](message[1])


def record_action(kind: str) -> str:
    """Count this browser session's actions; returns its pace ('N in M min')."""
    stamps = st.session_state.setdefault(f"pace_{kind}", [])
    stamps.append(time.time())
    return pace(kind)


def pace(kind: str) -> str:
    stamps = st.session_state.get(f"pace_{kind}", [])
    if not stamps:
        return "no actions yet this session"
    minutes = max((time.time() - stamps[0]) / 60, 1 / 60)
    return f"{len(stamps)} this session ({len(stamps) / minutes * 60:.0f}/h)"


HELD = "held_task"  # (page url path, task id) this browser session claimed


def remember_claim(page: str, task_id: int | None) -> None:
    if task_id is None:
        st.session_state.pop(HELD, None)
    else:
        st.session_state[HELD] = (page, task_id)


def release_on_leave(page: str, reviewer_id: int | None) -> None:
    """Leaving the page that claimed a task gives the task back at once (not after the 15-minute lock);
    `reviewer_id`: the signed-in account the app already read for this run (None: signed out)."""
    held = st.session_state.get(HELD)
    if held is None or held[0] == page:
        return
    st.session_state.pop(HELD, None)
    if reviewer_id is not None:
        from db.queries.review import release_lock

        with transaction(write=True) as session:
            release_lock(session, held[1], reviewer_id)


# Streamlit's button shortcuts ignore keys pressed while a radio button or checkbox has the focus, which is where the
# focus is after scoring with the mouse. This listener (window, capture phase, installed once) submits the form
# whose choice has the focus, so Ctrl+Enter works as the button says; elsewhere Streamlit's own shortcut acts.
FORM_SHORTCUT_JS = """<script>
if (!window.lumicrsChoiceSubmit) {
  window.lumicrsChoiceSubmit = true;
  window.addEventListener("keydown", (event) => {
    const focused = document.activeElement;
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || !focused
        || focused.tagName !== "INPUT" || !["radio", "checkbox"].includes(focused.type)) return;
    const form = focused.closest('[data-testid="stForm"]');
    const submit = form && form.querySelector('[data-testid="stBaseButton-primaryFormSubmit"], button[kind="primaryFormSubmit"]');
    if (!submit) return;
    event.preventDefault();
    event.stopPropagation();
    focused.blur();
    submit.click();
  }, true);
}
</script>"""


def submit_forms_from_choices() -> None:
    """Ctrl+Enter submits a form while one of its radio buttons or checkboxes has the focus."""
    st.html(FORM_SHORTCUT_JS, unsafe_allow_javascript=True)
