"""Rate page: score responses 1-5 on the five rubrics (the rubric guidance is shown beside each)."""
from __future__ import annotations

import streamlit as st

from annotator.ui_common import require_identity, show_turns, transaction
from db.models import Response, Reviewer
from db.queries.responses import response_context
from db.queries.review import claim_next_task, open_task_count, submit_ratings
from db.rubrics import RUBRICS


def _submit(task_id: int, reviewer_id: int) -> None:
    scores = {r.key: st.session_state.get(f"{r.key}_{task_id}") for r in RUBRICS}
    missing = [r.label for r in RUBRICS if scores[r.key] is None]
    if missing:
        st.session_state["rate_flash"] = ("error", f"Score every rubric first: {', '.join(missing)}")
        return
    with transaction(write=True) as session:
        submit_ratings(session, task_id, session.get_one(Reviewer, reviewer_id), {k: int(v) for k, v in scores.items()})
    st.session_state["rate_flash"] = ("success", f"Saved ratings for task {task_id}.")


def render() -> None:
    st.title("Rate responses on five rubrics")
    identity = require_identity()
    if identity is None:
        return
    flash = st.session_state.pop("rate_flash", None)
    if flash:
        (st.success if flash[0] == "success" else st.error)(flash[1])
    with transaction(write=True) as session:
        task = claim_next_task(session, session.get_one(Reviewer, identity[0]), "rating")
        remaining = open_task_count(session, "rating")
        if task is None:
            st.success(f"Nothing left for you to rate ({remaining} open tasks wait for other raters).")
            return
        response = session.get_one(Response, task.response_id)
        context = [{"role": u.role, "text": u.text} for u in response_context(session, response)]
        task_id, text, system = task.id, response.text, response.system
    st.caption(f"Task {task_id} · {remaining} open · system {system}")
    show_turns(context)
    st.markdown("**Response to score**")
    st.info(text)
    for rubric in RUBRICS:
        st.radio(rubric.label, [1, 2, 3, 4, 5], index=None, horizontal=True, key=f"{rubric.key}_{task_id}",
                 help=rubric.guidance)
        st.caption(rubric.guidance)
    st.button("Submit ratings", type="primary", shortcut="ctrl+enter", on_click=_submit,
              args=(task_id, identity[0]), help="Ctrl+Enter")
