"""My verdicts: a reviewer's own verdicts, newest first, and changing one (which re-decides its task).

"edit" is offered only for a task where this reviewer's edited dialogue exists (it is kept when the verdict changes);
no text field submits anything: only the button does."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator.ui_common import acting, message_area, require_identity, transaction
from db.models import Movie, Reviewer
from db.queries.review import my_verdicts, submit_review

FLASH = "history_flash"


def _change(reviewer_id: int, task_id: int) -> None:
    verdict = st.session_state.get(f"history_verdict_{task_id}")
    reason = st.session_state.get(f"history_reason_{task_id}", "") or ""
    try:
        with transaction(write=True) as session:
            reviewer = acting(session, reviewer_id)
            current = {t.id: r for r, t, _ in my_verdicts(session, reviewer)}
            if task_id not in current:
                raise ValueError(f"you have no verdict on task {task_id}")
            before, edited = current[task_id].verdict, current[task_id].edited_turns  # an earlier edit's text is kept
            if verdict == "edit" and not edited:
                raise ValueError(f"task {task_id} has no edited dialogue of yours to keep")
            if verdict == before and reason.strip() == (current[task_id].reason or ""):
                raise ValueError(f"your verdict on task {task_id} is already {before} with this reason")
            submit_review(session, task_id, reviewer, verdict, reason, edited)
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{str(exc)[:1].upper()}{str(exc)[1:]}. Nothing was changed.")
        return
    st.session_state[FLASH] = ("success", f"Task {task_id}: you changed your verdict from {before} to {verdict}; "
                                          "the task was re-decided.")


def render() -> None:
    st.title("My verdicts")
    identity = require_identity()
    if identity is None:
        message_area(FLASH)  # an action refused because the account was disabled says why
        return
    with transaction() as session:
        verdicts = my_verdicts(session, session.get_one(Reviewer, identity[0]))
        rows = [{"task": t.id, "target": session.get_one(Movie, c.movie_id).title, "tier": c.tier,
                 "my verdict": r.verdict, "reason": r.reason, "edited": "yes" if r.edited_turns else "",
                 "when": r.created_at.strftime("%Y-%m-%d %H:%M"), "decided": f"{t.status} / {c.status}"}
                for r, t, c in verdicts]
        edited = {t.id for r, t, _ in verdicts if r.edited_turns}
    if not rows:
        st.info("You have not given any verdict yet: the Review page hands you the next task.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, height=300, width="stretch",
                 column_config={"reason": st.column_config.TextColumn(width="medium"),
                                "target": st.column_config.TextColumn(width="medium")})
    st.subheader("Change a verdict")
    cols = st.columns([1, 1, 3])
    task_id = cols[0].selectbox("Task", [r["task"] for r in rows], key="history_task")
    verdicts_offered = ["accept", "reject", "edit"] if task_id in edited else ["accept", "reject"]
    cols[1].selectbox("New verdict", verdicts_offered, key=f"history_verdict_{task_id}")
    cols[2].text_input("Reason (required to reject or edit)", key=f"history_reason_{task_id}")
    st.button("Change my verdict", type="primary", on_click=_change, args=(identity[0], task_id))
    message_area(FLASH)
