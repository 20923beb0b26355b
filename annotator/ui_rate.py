"""Rate page: score responses 1-5 on the five rubrics (the rubric guidance is shown beside each).

Movie placeholders (@<id>) are shown as titles in the context and in the response, as on the Review page."""
from __future__ import annotations

import streamlit as st

from annotator.ui_common import (
    acting,
    flash,
    pace,
    record_action,
    remember_claim,
    require_identity,
    show_turns,
    submit_forms_from_choices,
    transaction,
)
from db.models import Response, Reviewer
from db.queries.responses import readable_response
from db.queries.review import claim_next_task, reviewer_progress, submit_ratings
from db.rubrics import RUBRICS

FLASH = "rate_flash"


def _submit(task_id: int, reviewer_id: int) -> None:
    scores = {r.key: st.session_state.get(f"{r.key}_{task_id}") for r in RUBRICS}
    missing = [r.label for r in RUBRICS if scores[r.key] is None]
    if missing:
        st.session_state[FLASH] = ("error", f"Score every rubric first: {', '.join(missing)}")
        return
    try:
        with transaction(write=True) as session:
            submit_ratings(session, task_id, acting(session, reviewer_id), {k: int(v) for k, v in scores.items()})
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{exc}. Nothing was saved.")
        return
    record_action("rate")
    st.session_state[FLASH] = ("success", f"Saved ratings for task {task_id}.")


def render() -> None:
    st.title("Rate responses on five rubrics")
    identity = require_identity()
    if identity is None:
        flash(FLASH)  # an action refused because the account was disabled says why
        return
    with transaction(write=True) as session:
        reviewer = session.get_one(Reviewer, identity[0])
        task = claim_next_task(session, reviewer, "rating")
        progress = reviewer_progress(session, reviewer, "rating")
        if task is not None:
            response = session.get_one(Response, task.response_id)
            context, text = readable_response(session, response)
            task_id, system = task.id, response.system
    remember_claim("rate", task.id if task is not None else None)
    st.caption(f"Your progress: {progress['today']} today · {progress['total']} in all · {pace('rate')} · "
               f"{progress['left_for_you']} left for you")
    if task is None:
        flash(FLASH)
        st.info("Nothing left for you to rate. Queue responses with `lumicrs annotate sample-responses` or "
                "`lumicrs annotate import-responses FILE`.")
        return
    st.caption(f"Task {task_id} · system {system}")
    show_turns(context)
    st.markdown("**Response to score**")
    st.text(text)
    with st.form(f"rate_{task_id}", border=False):
        for rubric in RUBRICS:
            st.radio(rubric.label, [1, 2, 3, 4, 5], index=None, horizontal=True, key=f"{rubric.key}_{task_id}",
                     help=rubric.guidance)
            st.caption(rubric.guidance)
        st.form_submit_button("Submit ratings (Ctrl+Enter)", type="primary", shortcut="ctrl+enter", on_click=_submit,
                              args=(task_id, identity[0]))
        flash(FLASH)
    submit_forms_from_choices()
