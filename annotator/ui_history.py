"""My verdicts: a reviewer's own verdicts, newest first, and changing one (which re-decides its task)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator.ui_common import acting, flash, require_identity, transaction
from db.models import Movie, Reviewer
from db.queries.review import my_verdicts, submit_review

FLASH = "history_flash"


def _change(reviewer_id: int) -> None:
    task_id = st.session_state.get("history_task")
    verdict, reason = st.session_state.get("history_verdict"), st.session_state.get("history_reason", "")
    try:
        with transaction(write=True) as session:
            reviewer = acting(session, reviewer_id)
            current = {t.id: r for r, t, _ in my_verdicts(session, reviewer)}
            if task_id not in current:
                raise ValueError(f"you have no verdict on task {task_id}")
            before, edited = current[task_id].verdict, current[task_id].edited_turns  # an earlier edit's text is kept
            if verdict == "edit" and not edited:
                raise ValueError(f"task {task_id} has no edited dialogue of yours: edit it on the Review page")
            submit_review(session, task_id, reviewer, verdict, reason, edited)
        st.session_state[FLASH] = ("success", f"Task {task_id}: you changed your verdict from {before} to {verdict}; "
                                              "the task was re-decided.")
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{exc}. Nothing was changed.")


def render() -> None:
    st.title("My verdicts")
    identity = require_identity()
    if identity is None:
        flash(FLASH)  # an action refused because the account was disabled says why
        return
    with transaction() as session:
        rows = [{"task": t.id, "target": session.get_one(Movie, c.movie_id).title, "tier": c.tier, "my verdict": r.verdict,
                 "reason": r.reason, "when": r.created_at, "source": r.source, "task now": t.status,
                 "candidate now": c.status}
                for r, t, c in my_verdicts(session, session.get_one(Reviewer, identity[0]))]
    if not rows:
        st.info("You have not given any verdict yet: the Review page hands you the next task.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, height=320)
    st.subheader("Change a verdict")
    with st.form("history_change", border=False):
        cols = st.columns([1, 1, 3])
        cols[0].selectbox("Task", [r["task"] for r in rows], key="history_task")
        cols[1].selectbox("New verdict", ["accept", "reject", "edit"], key="history_verdict")
        cols[2].text_input("Reason (required to reject or edit)", key="history_reason")
        st.form_submit_button("Change my verdict", type="primary", on_click=_change, args=(identity[0],))
        flash(FLASH)
