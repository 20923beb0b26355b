"""Review page: adjudicate 2-3-vote candidates (accept / reject / edit with a reason) on one screen at 1400x900.

A verdict is stored only by a button or its shortcut, each shown on the button (Alt+A accept, Alt+X reject, Alt+E
save edit, Alt+K skip): no form, so Enter in the reason box and Ctrl+Enter in the edit box only commit their text.
A shortcut pressed while typing first commits the text (annotator.ui_common.KEYS_JS). The reason and the edited
dialogue are drafts, kept in the database as they are typed (a pause of half a second) and restored after a reload;
the edit box shows the parsed turns beside it as it is typed, or the line it cannot place. A double click stores one
verdict. The claim is renewed while the page is open and given back on Skip, sign-out and leaving the page.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from annotator.edits import EditError, format_turns, parse_edited, same_dialogue
from annotator.ui_common import (
    acting,
    draft_of,
    escape_markdown,
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
from db.models import Candidate, JudgeVote, Movie, Prototype, Reviewer
from db.queries.candidates import status_counts, votes_for
from db.queries.corpus import movie_info, readable_turns
from db.queries.drafts import delete_draft
from db.queries.review import (
    can_work,
    claim_next_task,
    my_verdicts,
    open_task_count,
    reviewer_progress,
    submit_review,
    undo_verdict,
    verdict_of,
)
from db.settings import get_settings
from db.types import MovieInfo
from lm.placeholder_model import PLACEHOLDER_JUDGES_NOTICE, PLACEHOLDER_NOTICE, is_placeholder

SKIPPED = "review_skipped"
LAST = "review_last_task"
DECIDED = "review_decided"  # task ids this browser session stored a verdict on: a second click is ignored
FLASH = "review_flash"
SHORTCUTS = {"accept": "alt+a", "reject": "alt+x", "edit": "alt+e", "skip": "alt+k"}
PANE = 370  # px: the dialogue and the votes (or the edit box and its preview) side by side


@dataclass(frozen=True)
class TaskView:
    task_id: int
    title: str
    tier: str
    passes: int | None
    votes: list[str]
    generator: str
    placeholder_judges: bool  # voted on by placeholder or panel judges: a notice says which
    turns: list[dict[str, str]]
    prototype: list[dict[str, str]]
    cold_start: bool = False  # no train dialogue mentions the movie: the writer had its catalog entry only
    movie_facts: tuple[str, ...] = ()  # year, genres, plot: what the writer was told about the movie


COLD_START_NOTICE = ("Cold-start movie: no train dialogue mentions it, so there is no real dialogue to compare with. "
                     "The writer knew only the catalog facts below; check the dialogue against them.")


def movie_facts(info: MovieInfo) -> tuple[str, ...]:
    """The catalog facts the writer's prompt carries, one line each."""
    facts = [f"Year: {info.year}"] if info.year else []
    facts += [f"Genres: {', '.join(info.genres)}"] if info.genres else []
    facts += [f"Plot: {info.plot}"] if info.plot else []
    return tuple(facts)


def reason_key(task_id: int) -> str:
    return f"reason_{task_id}"


def edit_key(task_id: int) -> str:
    return f"edited_{task_id}"


def editing_key(task_id: int) -> str:
    return f"editing_{task_id}"


def _submit(task_id: int, reviewer_id: int, verdict: str, turns: list[dict[str, str]]) -> None:
    decided = st.session_state.setdefault(DECIDED, [])
    if task_id in decided:
        return  # a second click (or key press) before the page moved on: the first one already stored it
    reason = st.session_state.get(reason_key(task_id), "") or ""
    try:
        edited = None
        if verdict == "edit":
            edited = parse_edited(st.session_state.get(edit_key(task_id), "") or "")
            if same_dialogue(edited, turns):
                raise EditError("nothing was changed; use Accept, or change a turn first")
        with transaction(write=True) as session:
            reviewer = acting(session, reviewer_id)
            before = verdict_of(session, task_id, reviewer.id)
            submit_review(session, task_id, reviewer, verdict, reason, edited)
            delete_draft(session, reviewer.id, task_id)
    except EditError as exc:
        st.session_state[FLASH] = ("error", f"Edited dialogue: {exc}. Nothing was saved.")
        return
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{str(exc)[:1].upper()}{str(exc)[1:]}. Nothing was saved.")
        return
    decided.append(task_id)
    st.session_state[LAST] = task_id
    record_action("review")
    changed = f"You changed your verdict on task {task_id} from {before} to {verdict}." if before else None
    st.session_state[FLASH] = ("info", changed) if changed else ("success", f"Saved: {verdict} on task {task_id}.")


def _skip(task_id: int, reviewer_id: int) -> None:
    skip_task(task_id, reviewer_id, SKIPPED, FLASH)


def _undo(reviewer_id: int) -> None:
    task_id = st.session_state.pop(LAST, None)
    if task_id is None:
        return
    try:
        with transaction(write=True) as session:
            undone = undo_verdict(session, task_id, acting(session, reviewer_id),
                                  claim_seconds=get_settings().claim_seconds)
    except ValueError as exc:
        st.session_state[FLASH] = ("error", f"{exc}. Nothing was undone.")
        return
    if task_id in st.session_state.get(DECIDED, []):
        st.session_state[DECIDED].remove(task_id)
    st.session_state[FLASH] = ("info", f"Undone: your verdict on task {task_id} is withdrawn; the task is back "
                                       "with you." if undone else f"Nothing to undo on task {task_id}.")


PANEL_JUDGES_NOTICE = ("The votes are the local trained judge panel's (five small models on sentence embeddings, each "
                       "line gives its held-out AUC; docs/judges.md), not the paper's LLM judges. Judge it yourself.")


def _panel_judged(votes: list[JudgeVote]) -> bool:
    """Voted on by the local panel (augment.panel: its judges are named panel-*)."""
    return bool(votes) and all(v.judge.startswith("panel-") for v in votes)


def _vote_line(vote: JudgeVote) -> str:
    if not vote.valid:
        return f"{vote.judge}: INVALID output (counted as fail) — {vote.rationale or 'unparseable reply'}"
    scores = ", ".join(f"{name} {value}" for name, value in (("semantic", vote.semantic), ("fluency", vote.fluency),
                                                             ("plausibility", vote.plausibility)) if value is not None)
    line = f"{vote.judge}: {'PASS' if vote.passed else 'FAIL'} ({scores})"
    return f"{line} — {vote.rationale}" if vote.rationale else line  # the placeholder judges give no rationale


def _empty_queue(remaining: int, role: str) -> None:
    with transaction() as session:
        needs_review = status_counts(session).get("needs_review", 0)
    if remaining:
        st.info(f"Nothing for you right now: the {remaining} open tasks are held by other reviewers or already have "
                "your verdict. Held tasks come back within two minutes if their reviewer leaves.")
    elif needs_review:
        st.info("No open review task; every borderline candidate has been decided.")
    elif role == "lead":
        st.info("The review queue is empty: fill it with `lumicrs augment generate`, then `augment filter`, "
                "`augment judge` and `augment route` (2-3 of 5 judge passes land here), or import tasks from Label "
                "Studio with `lumicrs annotate pull`.")
    else:
        st.info("The review queue is empty: there is nothing to review yet. Your lead adds dialogues to it; this "
                "page shows them as soon as they arrive.")


def _load(reviewer_id: int) -> tuple[TaskView | None, dict[str, int], int, str]:
    with transaction(write=True) as session:
        reviewer = session.get_one(Reviewer, reviewer_id)
        order = get_settings().queue_order
        task = claim_next_task(session, reviewer, "adjudication", skip=tuple(st.session_state.get(SKIPPED, [])),
                               order=order, claim_seconds=get_settings().claim_seconds)
        progress = reviewer_progress(session, reviewer, "adjudication")
        remaining = open_task_count(session, "adjudication")
        if LAST not in st.session_state:  # after a reload or a new sign-in: the last verdict given in the app
            last = [t.id for r, t, _ in my_verdicts(session, reviewer, limit=1) if r.source == "streamlit"]
            if last:
                st.session_state[LAST] = last[0]
        if task is None:
            return None, progress, remaining, order
        candidate = session.get_one(Candidate, task.candidate_id)
        vote_rows = votes_for(session, candidate.id)
        movie = session.get_one(Movie, candidate.movie_id)
        prototype = session.get_one(Prototype, candidate.prototype_id)
        view = TaskView(task.id, movie.title, candidate.tier,
                        candidate.pass_votes, [_vote_line(v) for v in vote_rows], candidate.generator,
                        any(is_placeholder(v.judge) for v in vote_rows) or _panel_judged(vote_rows),
                        list(candidate.turns), readable_turns(session, prototype.conversation_id),
                        bool((prototype.weights or {}).get("cold_start")), movie_facts(movie_info(movie)))
    return view, progress, remaining, order


def _restore_draft(view: TaskView, reviewer_id: int) -> None:
    """The first time this browser session shows the task: the saved draft, else the dialogue as it is."""
    if reason_key(view.task_id) in st.session_state:
        return
    draft = draft_of(reviewer_id, view.task_id)
    st.session_state[reason_key(view.task_id)] = str(draft.get("reason", ""))
    st.session_state[edit_key(view.task_id)] = str(draft.get("edited", format_turns(view.turns)))
    st.session_state[editing_key(view.task_id)] = "edited" in draft


def render() -> None:
    identity = require_identity()
    if identity is None:
        st.title("Review borderline dialogues")
        message_area(FLASH)  # an action refused because the account was disabled says why
        return
    reviewer_id, _, role = identity
    if not can_work(role, "adjudication"):
        st.title("Review borderline dialogues")
        st.info(f"Review is the annotators' and leads' queue; as a {role} you work on the Rate page.")
        return
    view, progress, remaining, order = _load(reviewer_id)
    remember_claim("review", view.task_id if view is not None else None)
    install_keys()
    head, undo, guide = st.columns([8, 2, 1.4], vertical_alignment="center")
    head.caption(f"Your progress: {progress['today']} today · {progress['total']} in all · {pace('review')} · "
                 f"{progress['left_for_you']} left for you · queue order: {order}")
    undo.button("Undo my last verdict", key="undo", on_click=_undo, args=(reviewer_id,),
                disabled=LAST not in st.session_state, width="stretch")
    with guide:
        guidelines_button()
    if view is None:
        message_area(FLASH)
        _empty_queue(remaining, role)
        return
    keep_claim(view.task_id, reviewer_id)
    _restore_draft(view, reviewer_id)
    _task(view, reviewer_id)


def _task(view: TaskView, reviewer_id: int) -> None:
    st.markdown(f"#### Target: {escape_markdown(view.title)} ({view.tier} tier) · judges {view.passes}/"
                f"{len(view.votes)} pass")
    notice = (PLACEHOLDER_NOTICE if is_placeholder(view.generator)
              else (PANEL_JUDGES_NOTICE if any(v.startswith("panel-") for v in view.votes) else
                    PLACEHOLDER_JUDGES_NOTICE) if view.placeholder_judges else "")
    st.caption(f"task {view.task_id} · generator {view.generator}" + (f" · :information_source: {notice}"
                                                                     if notice else ""))
    _work_area(view, reviewer_id)


@st.fragment
def _work_area(view: TaskView, reviewer_id: int) -> None:
    """Typing reruns only this part (a live preview and the draft, without re-claiming); a stored verdict or a skip
    reruns the whole page, which shows the next task."""
    if st.session_state.get(LAST) == view.task_id and view.task_id in st.session_state.get(DECIDED, []) \
            or view.task_id in st.session_state.get(SKIPPED, []):
        st.rerun()
    task_id = view.task_id
    editing = st.toggle("Edit the dialogue", key=editing_key(task_id), help="Show the dialogue as text to change it; "
                        "the turns it parses into appear on the right as you type.")
    left, right = st.columns([3, 2])
    with left, st.container(height=PANE, autoscroll=False):  # a long dialogue opens at its first turn
        if editing:
            with st.container(key=f"live_edit_{task_id}"):  # KEYS_JS commits it after each typing pause
                st.text_area("Edited dialogue: each turn starts with 'Seeker:' or 'Recommender:'; indent a line to "
                             "keep it in the turn above", key=edit_key(task_id), height=PANE - 60,
                             on_change=save_draft, args=(reviewer_id, task_id, "edited", edit_key(task_id)))
        else:
            show_turns(view.turns)
    with right, st.container(height=PANE, autoscroll=False):
        if editing:
            _preview(st.session_state.get(edit_key(task_id), ""), view.turns)
        else:
            if view.cold_start:
                st.info(COLD_START_NOTICE)
            with st.expander("About the movie", expanded=view.cold_start):
                for fact in view.movie_facts or ("No catalog facts for this movie.",):
                    st.markdown(escape_markdown(fact))
            for line in view.votes:
                st.text(line)
            with st.expander("Prototype dialogue" + (" (chosen by the movie's text)" if view.cold_start else "")):
                show_turns(view.prototype)
    st.text_input("Reason (required to reject or edit)", key=reason_key(task_id), live="500ms",
                  on_change=save_draft, args=(reviewer_id, task_id, "reason", reason_key(task_id)))
    buttons = st.columns(4)
    labels = {"accept": "Accept", "reject": "Reject", "edit": "Save edit"}
    for column, (verdict, label) in zip(buttons, labels.items(), strict=False):
        column.button(label, key=verdict, type="primary" if verdict == "accept" else "secondary", width="stretch",
                      shortcut=SHORTCUTS[verdict], on_click=_submit, args=(task_id, reviewer_id, verdict, view.turns),
                      disabled=verdict == "edit" and not editing)
    buttons[3].button("Skip", key="skip", shortcut=SHORTCUTS["skip"], on_click=_skip, args=(task_id, reviewer_id),
                      width="stretch")
    message_area(FLASH)


def _preview(text: str, turns: list[dict[str, str]]) -> None:
    try:
        parsed = parse_edited(text or "")
    except EditError as exc:
        st.error(f"Cannot save this edit: {exc}")
        return
    changed = not same_dialogue(parsed, turns)
    st.caption(f"{len(parsed)} turns{'' if changed else ' (unchanged)'}: what Save edit stores")
    show_turns(parsed)
