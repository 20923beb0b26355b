"""Review page: adjudicate 2-3-vote candidates (accept / reject / edit with a reason)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from annotator.sync import parse_edited
from annotator.ui_common import require_identity, show_turns, transaction
from db.models import Candidate, Movie, Prototype, Reviewer
from db.queries.candidates import votes_for
from db.queries.corpus import readable_turns
from db.queries.review import claim_next_task, open_task_count, release_lock, submit_review

SKIPPED = "review_skipped"


def _submit(task_id: int, reviewer_id: int, verdict: str) -> None:
    reason = st.session_state.get(f"reason_{task_id}", "")
    edited = parse_edited(st.session_state.get(f"edited_{task_id}", "")) if verdict == "edit" else None
    try:
        with transaction(write=True) as session:
            submit_review(session, task_id, session.get_one(Reviewer, reviewer_id), verdict, reason, edited)
        st.session_state["review_flash"] = ("success", f"Saved: {verdict} on task {task_id}.")
    except ValueError as exc:
        st.session_state["review_flash"] = ("error", str(exc))


def _skip(task_id: int, reviewer_id: int) -> None:
    st.session_state.setdefault(SKIPPED, []).append(task_id)
    with transaction(write=True) as session:
        release_lock(session, task_id, reviewer_id)


def _show_flash() -> None:
    flash = st.session_state.pop("review_flash", None)
    if flash:
        (st.success if flash[0] == "success" else st.error)(flash[1])


def render() -> None:
    st.title("Review borderline dialogues")
    identity = require_identity()
    if identity is None:
        return
    reviewer_id = identity[0]
    _show_flash()
    with transaction(write=True) as session:
        reviewer = session.get_one(Reviewer, reviewer_id)
        task = claim_next_task(session, reviewer, "adjudication", skip=tuple(st.session_state.get(SKIPPED, [])))
        remaining = open_task_count(session, "adjudication")
        if task is None:
            st.success(f"Nothing left for you to review ({remaining} open tasks wait for other reviewers).")
            return
        candidate = session.get_one(Candidate, task.candidate_id)
        movie = session.get_one(Movie, candidate.movie_id)
        proto = session.get_one(Prototype, candidate.prototype_id)
        proto_turns = readable_turns(session, proto.conversation_id)
        votes = pd.DataFrame([{"judge": v.judge, "pass": v.passed, "valid": v.valid, "semantic": v.semantic,
                               "fluency": v.fluency, "plausibility": v.plausibility, "rationale": v.rationale}
                              for v in votes_for(session, candidate.id)])
        task_id, turns, passes = task.id, candidate.turns, candidate.pass_votes
    st.caption(f"Task {task_id} · {remaining} open · candidate {candidate.id} · generator {candidate.generator}")
    st.subheader(f"Target: {movie.title} ({candidate.tier} tier) · judges: {passes}/{len(votes)} pass")
    left, right = st.columns([3, 2])
    with left:
        show_turns(turns)
    with right:
        st.markdown("**Judges**")
        st.dataframe(votes, hide_index=True, use_container_width=True)
        with st.expander("Prototype dialogue"):
            show_turns(proto_turns)
    st.text_input("Reason (required to reject or edit)", key=f"reason_{task_id}")
    st.text_area("Edited dialogue (for Edit): one 'Seeker: ...' / 'Recommender: ...' line per turn",
                 value="\n".join(f"{t['role'].capitalize()}: {t['text']}" for t in turns), key=f"edited_{task_id}",
                 height=180)
    cols = st.columns(4)
    cols[0].button("Accept", key="accept", type="primary", shortcut="ctrl+enter", on_click=_submit,
                   args=(task_id, reviewer_id, "accept"), help="Ctrl+Enter")
    cols[1].button("Reject", key="reject", shortcut="ctrl+backspace", on_click=_submit,
                   args=(task_id, reviewer_id, "reject"), help="Ctrl+Backspace")
    cols[2].button("Save edit", key="edit", shortcut="ctrl+e", on_click=_submit,
                   args=(task_id, reviewer_id, "edit"), help="Ctrl+E")
    cols[3].button("Skip", key="skip", shortcut="ctrl+k", on_click=_skip, args=(task_id, reviewer_id),
                   help="Ctrl+K")
