"""Review page: adjudicate 2-3-vote candidates (accept / reject / edit with a reason) in one screen.

The reason and the edited dialogue live in a form, so every button (and its shortcut) submits what is on screen.
Shortcuts avoid text-editing keys: Ctrl+Enter accept, Alt+X reject, Alt+E save edit, Alt+K skip.
"""
from __future__ import annotations

import streamlit as st

from annotator.edits import EditError, format_turns, parse_edited
from annotator.ui_common import (
    acting,
    escape_markdown,
    flash,
    pace,
    record_action,
    remember_claim,
    require_identity,
    show_turns,
    transaction,
)
from db.models import Candidate, JudgeVote, Movie, Prototype, Reviewer
from db.placeholder_model import PLACEHOLDER_JUDGES_NOTICE, PLACEHOLDER_NOTICE, is_placeholder
from db.queries.candidates import status_counts, votes_for
from db.queries.corpus import readable_turns
from db.queries.review import (
    claim_next_task,
    my_verdicts,
    open_task_count,
    release_lock,
    reviewer_progress,
    submit_review,
    undo_verdict,
    verdict_of,
)
from db.settings import get_settings

SKIPPED = "review_skipped"
LAST = "review_last_task"
FLASH = "review_flash"
SHORTCUTS = {"accept": "ctrl+enter", "reject": "alt+x", "edit": "alt+e", "skip": "alt+k"}


def _submit(task_id: int, reviewer_id: int, verdict: str) -> None:
    reason = st.session_state.get(f"reason_{task_id}", "")
    try:
        edited = parse_edited(st.session_state.get(f"edited_{task_id}", "")) if verdict == "edit" else None
        with transaction(write=True) as session:
            reviewer = acting(session, reviewer_id)
            before = verdict_of(session, task_id, reviewer.id)
            submit_review(session, task_id, reviewer, verdict, reason, edited)
        st.session_state[LAST] = task_id
        record_action("review")
        changed = f"You changed your verdict on task {task_id} from {before} to {verdict}." if before else None
        st.session_state[FLASH] = ("info", changed) if changed else ("success", f"Saved: {verdict} on task {task_id}.")
    except EditError as exc:
        st.session_state[FLASH] = ("error", f"Edited dialogue: {exc}. Nothing was saved.")
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{exc}. Nothing was saved.")


def _skip(task_id: int, reviewer_id: int) -> None:
    st.session_state.setdefault(SKIPPED, []).append(task_id)
    try:
        with transaction(write=True) as session:
            release_lock(session, task_id, acting(session, reviewer_id).id)
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{exc}.")


def _undo(reviewer_id: int) -> None:
    task_id = st.session_state.pop(LAST, None)
    if task_id is None:
        return
    try:
        with transaction(write=True) as session:
            undone = undo_verdict(session, task_id, acting(session, reviewer_id))
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{exc}. Nothing was undone.")
        return
    st.session_state[FLASH] = ("info", f"Undone: your verdict on task {task_id} is withdrawn; the task is back "
                                       "with you." if undone else f"Nothing to undo on task {task_id}.")


def _vote_line(vote: JudgeVote) -> str:
    if not vote.valid:
        return f"{vote.judge}: INVALID output (counted as fail) — {vote.rationale or 'unparseable reply'}"
    scores = f"semantic {vote.semantic}, fluency {vote.fluency}, plausibility {vote.plausibility}"
    line = f"{vote.judge}: {'PASS' if vote.passed else 'FAIL'} ({scores})"
    return f"{line} — {vote.rationale}" if vote.rationale else line  # the placeholder judges give no rationale


def _empty_queue(remaining: int, role: str) -> None:
    with transaction() as session:
        needs_review = sum(status_counts(session).get(s, 0) for s in ("needs_review",))
    if remaining:
        st.info(f"Nothing for you right now: {remaining} open tasks wait for other reviewers (or are yours already).")
    elif needs_review == 0:
        fill = ("fill it with `lumicrs augment generate`, then `augment filter`, `augment judge` and `augment route` "
                "(2-3 of 5 judge passes land here)")
        st.info(f"The review queue is empty: {fill}." + (" As a lead you can also import tasks from Label Studio "
                                                          "with `lumicrs annotate pull`." if role == "lead" else ""))
    else:
        st.info("No open review task; every borderline candidate has been decided.")


def render() -> None:
    identity = require_identity()
    if identity is None:
        st.title("Review borderline dialogues")
        flash(FLASH)  # an action refused because the account was disabled says why
        return
    reviewer_id, _, role = identity
    with transaction(write=True) as session:
        reviewer = session.get_one(Reviewer, reviewer_id)
        order = get_settings().queue_order
        task = claim_next_task(session, reviewer, "adjudication", skip=tuple(st.session_state.get(SKIPPED, [])),
                               order=order)
        progress = reviewer_progress(session, reviewer, "adjudication")
        remaining = open_task_count(session, "adjudication")
        if LAST not in st.session_state:  # after a reload or a new sign-in: the last verdict given in the app
            last = [t.id for r, t, _ in my_verdicts(session, reviewer, limit=1) if r.source == "streamlit"]
            if last:
                st.session_state[LAST] = last[0]
        if task is not None:
            candidate = session.get_one(Candidate, task.candidate_id)
            movie = session.get_one(Movie, candidate.movie_id)
            proto_turns = readable_turns(session, session.get_one(Prototype, candidate.prototype_id).conversation_id)
            vote_rows = votes_for(session, candidate.id)
            votes = [_vote_line(v) for v in vote_rows]
            placeholder_judges = any(is_placeholder(v.judge) for v in vote_rows)
            task_id, turns, passes, generator = task.id, candidate.turns, candidate.pass_votes, candidate.generator
    st.caption(f"Your progress: {progress['today']} today · {progress['total']} in all · {pace('review')} · "
               f"{progress['left_for_you']} left for you · queue order: {order}")
    if LAST in st.session_state:
        st.button("Undo my last verdict", key="undo", on_click=_undo, args=(reviewer_id,))
    remember_claim("review", task.id if task is not None else None)
    if task is None:
        flash(FLASH)
        _empty_queue(remaining, role)
        return
    st.markdown(f"#### Target: {escape_markdown(movie.title)} ({candidate.tier} tier) · judges {passes}/{len(votes)} pass")
    st.caption(f"task {task_id} · generator {generator}")
    if is_placeholder(generator):  # one line, so the action bar stays on a 1400x900 screen
        st.caption(f":information_source: {PLACEHOLDER_NOTICE}")
    elif placeholder_judges:
        st.caption(f":information_source: {PLACEHOLDER_JUDGES_NOTICE}")
    left, right = st.columns([3, 2])
    with left, st.container(height=330, autoscroll=False):  # a long dialogue opens at its first turn
        show_turns(turns)
    with right, st.container(height=330, autoscroll=False):
        for line in votes:
            st.text(line)
        with st.expander("Prototype dialogue"):
            show_turns(proto_turns)
    with st.form(f"verdict_{task_id}", border=False):
        st.text_input("Reason (required to reject or edit)", key=f"reason_{task_id}")
        st.text_area("Edited dialogue (for Save edit): each turn starts with 'Seeker:' or 'Recommender:'; "
                     "indent a line to keep it in the turn above",
                     value=format_turns(turns), key=f"edited_{task_id}", height=110)
        cols = st.columns(4)
        labels = {"accept": "Accept", "reject": "Reject", "edit": "Save edit"}  # Streamlit shows each shortcut
        for col, (verdict, label) in zip(cols, labels.items(), strict=False):
            col.form_submit_button(label, key=verdict, type="primary" if verdict == "accept" else "secondary",
                                   shortcut=SHORTCUTS[verdict], on_click=_submit, args=(task_id, reviewer_id, verdict))
        cols[3].form_submit_button("Skip", key="skip", shortcut=SHORTCUTS["skip"], on_click=_skip,
                                   args=(task_id, reviewer_id))
        flash(FLASH)
