"""Rate page: score one response at a time on the five rubrics, on one screen at 1400x900 (Argilla's way).

Keys (annotator.ui_common.KEYS_JS): 1-5 score the first rubric still unscored, 0 or N marks it N/A (stored as such,
left out of agreement); Ctrl+Enter submits; Alt+K skips (the task goes to someone else). Choices are drafts, kept
as they are made and restored after a reload. Movie placeholders (@<id>) are shown as titles. The history of one's
ratings, and changing one, is the My ratings page.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from annotator.ui_common import (
    acting,
    draft_of,
    guidelines_button,
    install_keys,
    keep_claim,
    message_area,
    pace,
    record_action,
    remember_claim,
    require_identity,
    save_draft,
    show_turns,
    skip_task,
    transaction,
)
from db.models import Response, Reviewer
from db.queries.drafts import delete_draft
from db.queries.responses import readable_response
from db.queries.review import can_work, claim_next_task, reviewer_progress, submit_ratings
from db.rubrics import RUBRICS
from db.settings import get_settings

FLASH = "rate_flash"
SKIPPED = "rate_skipped"
DECIDED = "rate_decided"
NA = "N/A"
CHOICES = ["1", "2", "3", "4", "5", NA]


@dataclass(frozen=True)
class RateView:
    task_id: int
    system: str
    context: list[dict[str, str]]
    text: str


def score_key(rubric: str, task_id: int) -> str:
    return f"{rubric}_{task_id}"


def scores_from(choices: dict[str, str | None]) -> dict[str, int | None]:
    """Radio choices -> stored scores ('N/A' -> None); ValueError naming what is still unscored."""
    missing = [r.label for r in RUBRICS if choices.get(r.key) is None]
    if missing:
        raise ValueError(f"score every rubric first (1-5, or N/A where it does not apply): {', '.join(missing)}")
    return {key: None if value == NA else int(str(value)) for key, value in choices.items()}


def _submit(task_id: int, reviewer_id: int) -> None:
    decided = st.session_state.setdefault(DECIDED, [])
    if task_id in decided:
        return
    try:
        scores = scores_from({r.key: st.session_state.get(score_key(r.key, task_id)) for r in RUBRICS})
        with transaction(write=True) as session:
            reviewer = acting(session, reviewer_id)
            submit_ratings(session, task_id, reviewer, scores)
            delete_draft(session, reviewer.id, task_id)
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{str(exc)[:1].upper()}{str(exc)[1:]}. Nothing was saved.")
        return
    decided.append(task_id)
    record_action("rate")
    st.session_state[FLASH] = ("success", f"Saved ratings for task {task_id}.")


def _skip(task_id: int, reviewer_id: int) -> None:
    skip_task(task_id, reviewer_id, SKIPPED, FLASH)


def _load(reviewer_id: int) -> tuple[RateView | None, dict[str, int]]:
    with transaction(write=True) as session:
        reviewer = session.get_one(Reviewer, reviewer_id)
        task = claim_next_task(session, reviewer, "rating", skip=tuple(st.session_state.get(SKIPPED, [])),
                               claim_seconds=get_settings().claim_seconds)
        progress = reviewer_progress(session, reviewer, "rating")
        if task is None:
            return None, progress
        response = session.get_one(Response, task.response_id)
        context, text = readable_response(session, response)
        return RateView(task.id, response.system, context, text), progress


def render() -> None:
    identity = require_identity()
    if identity is None:
        st.title("Rate responses on five rubrics")
        message_area(FLASH)  # an action refused because the account was disabled says why
        return
    reviewer_id, _, role = identity
    if not can_work(role, "rating"):
        st.title("Rate responses on five rubrics")
        st.info(f"Rating is the researchers' and leads' queue; as an {role} you work on the Review page.")
        return
    view, progress = _load(reviewer_id)
    remember_claim("rate", view.task_id if view is not None else None)
    install_keys()
    head, guide = st.columns([9, 1.4], vertical_alignment="center")
    head.caption(f"Your progress: {progress['today']} today · {progress['total']} in all · {pace('rate')} · "
                 f"{progress['left_for_you']} left for you · keys: 1-5 score, 0 or N = N/A, Ctrl+Enter submit, "
                 "Alt+K skip")
    with guide:
        guidelines_button()
    if view is None:
        message_area(FLASH)
        st.info("Nothing left for you to rate." + (
            " Queue responses with `lumicrs annotate sample-responses` or `lumicrs annotate import-responses FILE`."
            if role == "lead" else " Your lead queues responses; they appear here as soon as they arrive."))
        return
    keep_claim(view.task_id, reviewer_id)
    if score_key(RUBRICS[0].key, view.task_id) not in st.session_state:  # first shown here: the saved draft
        draft = draft_of(reviewer_id, view.task_id)
        for rubric in RUBRICS:
            st.session_state[score_key(rubric.key, view.task_id)] = draft.get(f"score:{rubric.key}")
    _work_area(view, reviewer_id)


@st.fragment
def _work_area(view: RateView, reviewer_id: int) -> None:
    """Each choice reruns only this part (and keeps it as a draft); a submit or a skip shows the next response."""
    task_id = view.task_id
    if task_id in st.session_state.get(DECIDED, []) or task_id in st.session_state.get(SKIPPED, []):
        st.rerun()
    left, right = st.columns([3, 2])
    with left:
        st.caption(f"Task {task_id} · system {view.system} · the conversation so far")
        with st.container(height=330, autoscroll=False):
            show_turns(view.context)
        st.markdown("**Response to score**")
        with st.container(height=150, autoscroll=False):
            st.text(view.text)
    with right, st.container(key="rate_scores"):
        for rubric in RUBRICS:
            st.radio(rubric.label, CHOICES, index=None, horizontal=True, key=score_key(rubric.key, task_id),
                     help=rubric.guidance, on_change=save_draft,
                     args=(reviewer_id, task_id, f"score:{rubric.key}", score_key(rubric.key, task_id)))
    buttons = st.columns([2, 1, 3])
    buttons[0].button("Submit ratings", key="rate_submit", type="primary", shortcut="ctrl+enter", on_click=_submit,
                      args=(task_id, reviewer_id), width="stretch")
    buttons[1].button("Skip", key="rate_skip", shortcut="alt+k", on_click=_skip, args=(task_id, reviewer_id),
                      width="stretch")
    message_area(FLASH)
