"""My ratings: a rater's own ratings, newest first, and changing one (the response's task is recounted)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator.ui_common import acting, message_area, require_identity, transaction
from annotator.ui_rate import CHOICES, NA, scores_from
from db.models import Response, Reviewer
from db.queries.responses import readable_response
from db.queries.review import my_ratings, submit_ratings
from db.rubrics import RUBRICS

FLASH = "ratings_flash"


def shown(score: int | None) -> str:
    return NA if score is None else str(score)


def _change(reviewer_id: int, task_id: int) -> None:
    try:
        scores = scores_from({r.key: st.session_state.get(f"change_{r.key}_{task_id}") for r in RUBRICS})
        with transaction(write=True) as session:
            submit_ratings(session, task_id, acting(session, reviewer_id), scores)
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{str(exc)[:1].upper()}{str(exc)[1:]}. Nothing was changed.")
        return
    st.session_state[FLASH] = ("success", f"Task {task_id}: your ratings were changed.")


def render() -> None:
    st.title("My ratings")
    identity = require_identity()
    if identity is None:
        message_area(FLASH)
        return
    with transaction() as session:
        rated = my_ratings(session, session.get_one(Reviewer, identity[0]))
        rows = []
        for task, scores in rated:
            response = session.get_one(Response, task.response_id)
            rows.append({"task": task.id, "system": response.system,
                         "response": readable_response(session, response)[1][:80],
                         **{r.label: shown(scores.get(r.key)) for r in RUBRICS}})
    if not rows:
        st.info("You have not rated any response yet: the Rate page hands you the next one.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, height=260, width="stretch")
    st.subheader("Change your ratings")
    task_id = st.selectbox("Task", [r["task"] for r in rows], key="ratings_task")
    current = dict(next(scores for task, scores in rated if task.id == task_id))
    columns = st.columns(len(RUBRICS))
    for column, rubric in zip(columns, RUBRICS, strict=True):
        key = f"change_{rubric.key}_{task_id}"
        if key not in st.session_state:
            st.session_state[key] = shown(current.get(rubric.key))
        column.radio(rubric.label, CHOICES, key=key, help=rubric.guidance)
    st.button("Save my changed ratings", type="primary", on_click=_change, args=(identity[0], task_id))
    message_area(FLASH)
