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
    close_web_session,
    reviewer_for_token,
    sign_in,
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
    """Counted per name and per client address; the password is checked with no transaction open."""
    name, password = st.session_state.get("signin_name", ""), st.session_state.get("signin_password", "")
    try:
        token = sign_in(session_factory(), name, password, client=client_address())
    except AccessDenied as exc:
        st.session_state["signin_error"] = str(exc)
        return
    st.session_state[TOKEN] = token
    st.query_params[TOKEN] = token
    st.session_state["signin_password"] = ""


def client_address() -> str | None:
    try:
        return st.context.ip_address
    except Exception:  # noqa: BLE001 (AppTest and bare runs have no client)
        return None


def _sign_out() -> None:
    """The token ends and every task the account held is given back at once."""
    token = st.session_state.pop(TOKEN, None)
    st.query_params.pop(TOKEN, None)
    st.session_state.pop(HELD, None)
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


def skip_task(task_id: int, reviewer_id: int, skipped_key: str, flash_key: str) -> None:
    """Skip a claimed task on Review or Rate: remembered in this session (not offered again) and its claim given
    back, so it goes to someone else; a refusal (account disabled) is flashed."""
    from db.queries.review import release_lock

    st.session_state.setdefault(skipped_key, []).append(task_id)
    try:
        with transaction(write=True) as session:
            release_lock(session, task_id, acting(session, reviewer_id).id)
        st.session_state[flash_key] = ("info", f"Skipped task {task_id}: it goes to someone else.")
    except ValueError as exc:
        st.session_state[flash_key] = ("error", f"{exc}.")


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


# Keys, the same on every page (installed once per browser tab, window capture phase, so they run before
# Streamlit's own shortcut handler):
# - An Alt shortcut pressed while a text field has the focus first takes the focus out of the field, which commits
#   what was typed, then clicks the button that shows that shortcut: the button acts on the text on screen (a text
#   field commits only on blur, Enter or a typing pause, and Streamlit does not fire Alt+letter from a text area).
# - A text box inside a container keyed `live_...` commits half a second after typing stops (a Ctrl+Enter, the box's
#   own "apply" key), so its preview and its draft follow the typing; st.text_area has no `live` option.
# - Streamlit ignores its shortcuts while a radio button or checkbox has the focus, which is where choosing one
#   with the mouse leaves it: there, a key combination with Ctrl, Cmd or Alt clicks the button that shows exactly
#   that combination. In both cases nothing happens when no button shows the combination.
# - On the Rate page, with the focus outside text fields: 1-5 score the first rubric still unscored, 0 or N marks it
#   N/A (Argilla's number keys); Backspace clears the last one scored.
KEYS_JS = r"""<script>
if (!window.lumicrsKeys) {
  window.lumicrsKeys = true;
  const typing = (el) => !!el && (el.tagName === "TEXTAREA" || el.isContentEditable
      || (el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit", "range"].includes(el.type)));
  const pick = (group, label) => {
    const option = Array.from(group.querySelectorAll("label")).find((l) => l.innerText.trim() === label);
    if (option) { option.click(); return true; }
    return false;
  };
  const combo = (event) => {
    const key = event.key === "Enter" ? "enter" : (event.code || "").replace(/^(Key|Digit)/, "").toLowerCase();
    return [(event.ctrlKey || event.metaKey) && "ctrl", event.altKey && "alt", event.shiftKey && "shift", key]
      .filter(Boolean).join("+");
  };
  const shown = (button) => {
    const label = button.querySelector('[aria-label^="Shortcut"]');
    return label ? label.innerText.replace(/⌘|Cmd|Meta/g, "ctrl").replace(/⌥|Option/g, "alt")
      .replace(/\s+/g, "").toLowerCase() : null;
  };
  window.addEventListener("keydown", (event) => {
    const focused = document.activeElement;
    const choice = focused && focused.tagName === "INPUT" && ["radio", "checkbox"].includes(focused.type);
    if ((event.altKey && typing(focused)) || (choice && (event.ctrlKey || event.metaKey || event.altKey))) {
      const wanted = combo(event);
      const button = Array.from(document.querySelectorAll("button")).find((b) => shown(b) === wanted);
      if (button) { event.preventDefault(); event.stopPropagation(); focused.blur(); button.click(); }
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey || typing(focused)) return;
    const groups = Array.from(document.querySelectorAll('[class*="st-key-rate_scores"] [role="radiogroup"]'));
    if (!groups.length) return;
    const open = groups.find((g) => !g.querySelector("input:checked"));
    let label = null;
    if (/^[1-5]$/.test(event.key)) label = event.key;
    else if (event.key === "0" || event.key.toLowerCase() === "n") label = "N/A";
    if (label && open && pick(open, label)) { event.preventDefault(); event.stopPropagation(); }
  }, true);
  document.addEventListener("input", (event) => {
    const box = event.target;
    if (!box || box.tagName !== "TEXTAREA" || !box.closest('[class*="st-key-live_"]')) return;
    clearTimeout(box.lumicrsPause);
    box.lumicrsPause = setTimeout(() => box.dispatchEvent(new KeyboardEvent("keydown",
        {key: "Enter", code: "Enter", ctrlKey: true, bubbles: true, cancelable: true})), 500);
  }, true);
}
</script>"""


def install_keys() -> None:
    """The keyboard helpers above, on this page."""
    st.html(KEYS_JS, unsafe_allow_javascript=True)


def keep_claim(task_id: int, reviewer_id: int) -> None:
    """While the page that shows a task is open, its claim is renewed every quarter of LUMICRS_CLAIM_SECONDS (30 of
    120 s); closing the tab lets it lapse within that time instead of holding the task from everyone else."""
    seconds = get_settings().claim_seconds

    @st.fragment(run_every=seconds / 4)
    def heartbeat() -> None:
        from db.queries.review import renew_claim

        with transaction(write=True) as session:
            held = renew_claim(session, task_id, reviewer_id, claim_seconds=seconds)
        if not held:
            st.caption(":warning: your claim on this task lapsed (the page was idle or asleep); a verdict is still "
                       "saved, but someone else may be working on it too")

    heartbeat()


def guidelines_button() -> None:
    """The project's guidelines (the lead's latest version), one click away on every task."""
    from db.queries.guidelines import current_guidelines

    with transaction() as session:
        guide = current_guidelines(session)
    label = f"Guidelines v{guide.version}" if guide.version else "Guidelines"
    with st.popover(label, width="content"):
        st.caption(f"Version {guide.version} by {guide.created_by}" if guide.version else
                   "The built-in guidelines: a lead can rewrite them on the Admin page.")
        st.markdown(guide.text)


def draft_of(reviewer_id: int, task_id: int) -> dict[str, object]:
    from db.queries.drafts import get_draft

    with transaction() as session:
        return get_draft(session, reviewer_id, task_id)


def save_draft(reviewer_id: int, task_id: int, field: str, key: str) -> None:
    """A widget's on_change: what it holds now is kept for this task (a reload or a new sign-in brings it back)."""
    from db.queries.drafts import save_draft_field

    try:
        with transaction(write=True) as session:
            save_draft_field(session, acting(session, reviewer_id).id, task_id, field, st.session_state.get(key))
    except ValueError as exc:
        st.session_state["draft_error"] = str(exc)


def message_area(key: str) -> None:
    """The one place a page's messages appear: a fixed-height slot right under its buttons, so nothing moves when a
    message comes or goes and every message is in view."""
    with st.container(height=64, border=False, key=f"messages_{key}"):
        flash(key)
        error = st.session_state.pop("draft_error", None)
        if error:
            st.error(f"Draft not kept: {error}")
