"""Pull and push wiring, fast: an in-process stand-in for our Label Studio adapter (the real server is exercised in
test_labelstudio.py, marked slow). Our database is real, on both backends."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from annotator.labelstudio import ExportedAnnotation
from annotator.sync import pull_annotations, push_tasks
from db.engine import write_transaction
from db.models import Candidate, Review, ReviewTask
from db.queries.accounts import set_active
from db.queries.review import get_or_create_reviewer, link_email, submit_review
from tests.factories import make_review_queue

PROJECT = "adjudication"


class FakeLabelStudio:
    """What LabelStudioAdapter offers sync.py, kept in memory: projects (found by title, created with their labeling
    config once, as the real adapter does), tasks with their data and project, annotations. A task added by hand to
    `tasks` belongs to the first project."""

    def __init__(self) -> None:
        self.projects: dict[str, int] = {}
        self.configs: dict[str, str] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.task_project: dict[int, int] = {}
        self.annotations: dict[tuple[int, str], ExportedAnnotation] = {}
        self.next_id = 500

    def ensure_project(self, title: str, label_config: str) -> int:
        if title not in self.projects:
            self.projects[title] = len(self.projects) + 1
            self.configs[title] = label_config
        return self.projects[title]

    def _in(self, project_id: int, ls_id: int) -> bool:
        return self.task_project.get(ls_id, 1) == project_id

    def project_tasks(self, project_id: int) -> list[tuple[int, Any, int]]:
        return [(ls_id, data, self.annotation_count(ls_id))
                for ls_id, data in sorted(self.tasks.items()) if self._in(project_id, ls_id)]

    def annotation_count(self, ls_task_id: int) -> int:
        return sum(a.ls_task_id == ls_task_id for a in self.annotations.values())

    def delete_task(self, ls_task_id: int) -> None:
        del self.tasks[ls_task_id]
        self.annotations = {k: a for k, a in self.annotations.items() if a.ls_task_id != ls_task_id}

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        assert project_id in self.projects.values(), f"no project {project_id}"
        ids = []
        for task in tasks:
            self.next_id += 1
            self.tasks[self.next_id] = task["data"]
            self.task_project[self.next_id] = project_id
            ids.append(self.next_id)
        return ids

    def export_annotations(self, project_id: int) -> list[ExportedAnnotation]:
        return [a for a in self.annotations.values() if self._in(project_id, a.ls_task_id)]

    def annotate(self, ls_id: int, email: str, verdict: str | None, reason: str = "", cancelled: bool = False) -> None:
        result: list[dict[str, Any]] = []
        if verdict:
            result.append({"from_name": "verdict", "value": {"choices": [verdict]}})
        if reason:
            result.append({"from_name": "reason", "value": {"text": [reason]}})
        self.annotations[(ls_id, email)] = ExportedAnnotation(ls_id, self.tasks[ls_id], email, result, cancelled)


def signed(factory: sessionmaker[Session], task_id: int, kind: str = PROJECT) -> dict[str, Any]:
    """The data a push of this database writes for our task `task_id` (id and signature)."""
    from annotator.sync_marks import SIGNATURE, TASK_ID, sign
    from db.queries.identity import sync_secret

    with write_transaction(factory) as s:
        return {TASK_ID: task_id, SIGNATURE: sign(sync_secret(s), kind, task_id)}


def setup(factory: sessionmaker[Session], n: int = 2, overlap: int = 1) -> tuple[FakeLabelStudio, list[int], dict[int, int]]:
    with factory() as s:
        tasks = make_review_queue(s, n=n, overlap=overlap)
    with write_transaction(factory) as s:
        lead = get_or_create_reviewer(s, "boss", "lead")
        for name in ("ann", "bob", "cy"):
            get_or_create_reviewer(s, name)
            link_email(s, name, f"{name}@lab.org", lead)
    fake = FakeLabelStudio()
    assert push_tasks(factory, fake, PROJECT, PROJECT).pushed == n  # type: ignore[arg-type]
    with factory() as s:
        ls = {t.id: t.labelstudio_task_id for t in s.scalars(select(ReviewTask))}
    return fake, tasks, ls  # type: ignore[return-value]


def status_of(factory: sessionmaker[Session], task_id: int) -> tuple[str, str]:
    with factory() as s:
        task = s.get_one(ReviewTask, task_id)
        return task.status, s.get_one(Candidate, task.candidate_id).status


def test_pull_matches_the_ids_stored_at_push_not_the_id_in_the_tasks_data(session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory)
    fake.tasks[9999] = {"lumicrs_task_id": t1}  # made in Label Studio by hand, carrying our task's id
    fake.annotate(9999, "ann@lab.org", "accept")
    fake.annotate(ls[t2], "bob@lab.org", "reject", "dull")
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert summary.unknown_tasks == [9999] and summary.pulled == 1  # the rest of the pull went on
    assert status_of(session_factory, t1) == ("open", "needs_review")
    assert status_of(session_factory, t2) == ("done", "rejected")


def test_annotations_by_a_disabled_account_are_reported_and_ignored(session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory)
    fake.annotate(ls[t1], "ann@lab.org", "accept")
    pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    with write_transaction(session_factory) as s:
        set_active(s, "ann", False, by=get_or_create_reviewer(s, "boss", "lead"))
    fake.annotate(ls[t2], "ann@lab.org", "accept")
    fake.annotate(ls[t1], "ann@lab.org", "reject", "changed my mind")  # after being disabled
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert summary.disabled == {"ann": 2} and summary.pulled == 0 and summary.retracted == 0
    assert status_of(session_factory, t1) == ("done", "accepted")  # the verdict given while active stands
    assert status_of(session_factory, t2) == ("open", "needs_review")


def test_a_cancelled_annotation_is_no_verdict_and_retracts_the_earlier_one(session_factory: sessionmaker[Session]) -> None:
    fake, (t1, _), ls = setup(session_factory)
    fake.annotate(ls[t1], "ann@lab.org", "accept")
    assert pull_annotations(session_factory, fake, PROJECT, PROJECT).pulled == 1  # type: ignore[arg-type]
    fake.annotate(ls[t1], "ann@lab.org", "accept", cancelled=True)
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (summary.pulled, summary.retracted) == (0, 1)
    assert status_of(session_factory, t1) == ("open", "needs_review")


def test_an_annotation_made_malformed_is_reported_and_its_old_verdict_retracted(
        session_factory: sessionmaker[Session]) -> None:
    fake, (t1, _), ls = setup(session_factory)
    fake.annotate(ls[t1], "ann@lab.org", "reject", "bland")
    pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert status_of(session_factory, t1) == ("done", "rejected")
    fake.annotate(ls[t1], "ann@lab.org", "reject")  # the reason was deleted: invalid now
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert len(summary.invalid) == 1 and "reason is required" in summary.invalid[0] and summary.retracted == 1
    assert status_of(session_factory, t1) == ("open", "needs_review")


def test_retraction_leaves_verdicts_given_in_the_app_alone(session_factory: sessionmaker[Session]) -> None:
    fake, (t1, _), _ = setup(session_factory, overlap=2)
    with write_transaction(session_factory) as s:
        submit_review(s, t1, get_or_create_reviewer(s, "cy"), "accept")  # on the Review page, not in Label Studio
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert summary.retracted == 0
    with session_factory() as s:
        assert [(r.verdict, r.source) for r in s.scalars(select(Review))] == [("accept", "streamlit")]


def test_a_re_pull_reports_what_changed_and_a_tie_names_the_task_for_an_app_reviewer(
        session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory, overlap=2)
    fake.annotate(ls[t1], "ann@lab.org", "accept")
    fake.annotate(ls[t1], "bob@lab.org", "reject", "weak")  # 1 - 1: a tie
    fake.annotate(ls[t2], "ann@lab.org", "accept")
    first = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (first.pulled, first.unchanged) == (3, 0) and first.needs_app_reviewer == [t1]
    again = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (again.pulled, again.unchanged, again.retracted) == (0, 3, 0)
    fake.annotate(ls[t2], "ann@lab.org", "reject", "on second thought")
    third = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (third.pulled, third.unchanged) == (1, 2)


def test_every_push_finds_duplicates_and_removes_the_unannotated_copies(session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory)
    fake.tasks[7777] = dict(fake.tasks[ls[t1]])  # a slow import stored these tasks twice
    fake.tasks[7778] = dict(fake.tasks[ls[t2]])
    fake.annotate(7778, "ann@lab.org", "accept")  # somebody already labelled the second copy
    summary = push_tasks(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (summary.pushed, summary.already_duplicated, summary.duplicates_removed) == (0, 2, [7777])
    assert len(summary.duplicates_kept) == 1 and summary.duplicates_kept[0].startswith("Label Studio task 7778 repeats")
    assert 7777 not in fake.tasks and ls[t1] in fake.tasks and 7778 in fake.tasks
    again = push_tasks(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (again.already_duplicated, again.duplicates_removed) == (1, [])


def test_an_html_page_or_a_multi_line_error_is_one_line() -> None:
    import pytest
    from label_studio_sdk.core.api_error import ApiError

    from annotator.errors import LabelStudioError
    from annotator.labelstudio import LabelStudioAdapter

    adapter = LabelStudioAdapter("http://ann:pw-secret@127.0.0.1:9/wrong/path", "key-secret")

    def page() -> None:
        raise ApiError(status_code=404, body="<!DOCTYPE html>\n<html>\n<body>\nNot Found key-secret\n</body></html>")

    with pytest.raises(LabelStudioError) as caught:
        adapter._call("list projects", page)
    message = str(caught.value)
    assert "\n" not in message and "pw-secret" not in message and "key-secret" not in message
    assert message.endswith("list projects failed (HTTP 404: an HTML page, not the API: is LABELSTUDIO_URL the "
                            "server's root URL?)")

    def dropped() -> None:
        raise OSError("connection reset\nby peer")

    with pytest.raises(LabelStudioError) as caught:
        adapter._call("import tasks", dropped)
    assert "\n" not in str(caught.value) and "unreachable during import tasks: OSError connection reset by peer" in str(
        caught.value)


def test_rating_tasks_carry_the_context_the_response_and_the_first_judges_scores_and_come_back_as_ratings(
        session_factory: sessionmaker[Session]) -> None:
    from db.models import Rating
    from tests.factories import make_rating_queue
    with session_factory() as s:
        first, second = make_rating_queue(s, n=2, overlap=1)
    with write_transaction(session_factory) as s:
        response_id = s.get_one(ReviewTask, first).response_id
        other_id = s.get_one(ReviewTask, second).response_id
        s.add(Rating(response_id=response_id, rater="hugo", rater_kind="human", rubric="lifelikeness", score=1))
        s.flush()  # a human's score first in the table
        s.add_all([Rating(response_id=response_id, rater="judge-a", rater_kind="llm", rubric="informativeness", score=4),
                   Rating(response_id=response_id, rater="judge-b", rater_kind="llm", rubric="diversity", score=2),
                   Rating(response_id=response_id, rater="judge-a", rater_kind="llm", rubric="diversity", score=5),
                   Rating(response_id=other_id, rater="judge-c", rater_kind="llm", rubric="diversity", score=3)])
        lead = get_or_create_reviewer(s, "boss", "lead")
        get_or_create_reviewer(s, "rita", "researcher")
        link_email(s, "rita", "rita@lab.org", lead)
    fake = FakeLabelStudio()
    assert push_tasks(session_factory, fake, "rating", "rating").pushed == 2  # type: ignore[arg-type]
    with session_factory() as s:
        ls = {t.id: t.labelstudio_task_id for t in s.scalars(select(ReviewTask))}
    data = dict(fake.tasks[ls[first]])
    assert isinstance(data.pop("lumicrs_batch"), str)
    assert data == {**signed(session_factory, first, "rating"),
                    "context": [{"author": "seeker", "text": "I want a comedy"}], "response": "response 0",
                    "system": "sys0"}
    assert fake.tasks[ls[second]]["context"][-1] == {"author": "seeker", "text": "Seen it"}
    from annotator.sync import rating_payload
    with session_factory() as s:
        predictions = rating_payload(s, s.get_one(ReviewTask, first))["predictions"]
    # the first judge's scores on this response only (no human's, no other response's), as Label Studio shows one
    assert predictions == [{"model_version": "judge-a", "result": [
        {"from_name": rubric, "to_name": "response", "type": "rating", "value": {"rating": score}}
        for rubric, score in (("informativeness", 4), ("diversity", 5))]}]
    with session_factory() as s:
        assert rating_payload(s, s.get_one(ReviewTask, second))["predictions"][0]["model_version"] == "judge-c"
    scores = {"logical_persuasiveness": 4, "informativeness": 5, "lifelikeness": 3, "long_tail_relevance": 2}
    result = [{"from_name": k, "value": {"rating": v}} for k, v in scores.items()] + [{"from_name": "diversity"}]
    fake.annotations[(ls[first], "rita@lab.org")] = ExportedAnnotation(ls[first], data, "rita@lab.org", result, False)
    incomplete = pull_annotations(session_factory, fake, "rating", "rating")  # type: ignore[arg-type]
    assert incomplete.pulled == 0 and len(incomplete.invalid) == 1 and "diversity" in incomplete.invalid[0]
    result[-1] = {"from_name": "diversity", "value": {"rating": 1}}
    summary = pull_annotations(session_factory, fake, "rating", "rating")  # type: ignore[arg-type]
    assert summary.pulled == 1 and not summary.invalid, summary
    with session_factory() as s:
        stored = {(r.rubric, r.score, r.source) for r in s.scalars(select(Rating).where(Rating.rater == "rita"))}
    assert stored == {(k, v, "labelstudio") for k, v in {**scores, "diversity": 1}.items()}
    with session_factory() as s:
        assert s.get_one(ReviewTask, first).status == "done" and s.get_one(ReviewTask, second).status == "open"
    again = pull_annotations(session_factory, fake, "rating", "rating")  # type: ignore[arg-type]
    assert (again.pulled, again.unchanged) == (0, 1)  # the same scores: nothing changed
    result[0] = {"from_name": "logical_persuasiveness", "value": {"rating": 1}}
    assert pull_annotations(session_factory, fake, "rating", "rating").pulled == 1  # type: ignore[arg-type]


def test_annotations_by_unlinked_users_are_counted_per_user_and_stored_nowhere(
        session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory)
    fake.annotate(ls[t1], "stranger@lab.org", "accept")
    fake.annotate(ls[t2], "stranger@lab.org", "accept")
    fake.annotate(ls[t1], "other@lab.org", "reject", "dull")
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert summary.held == {"stranger@lab.org": 2, "other@lab.org": 1} and summary.pulled == 0
    with session_factory() as s:
        assert not list(s.scalars(select(Review)))


def test_an_adjudication_task_carries_the_dialogue_the_prototype_and_each_judges_vote_in_judge_order(
        session_factory: sessionmaker[Session]) -> None:
    from annotator.sync import adjudication_payload
    from db.models import JudgeVote
    with session_factory() as s:
        first, _ = make_review_queue(s, n=2)
    with write_transaction(session_factory) as s:
        candidate_id = s.get_one(ReviewTask, first).candidate_id
        s.scalars(select(JudgeVote).where(JudgeVote.candidate_id == candidate_id,
                                          JudgeVote.judge == "judge-0")).one().judge = "z-judge"  # sorts last
    with session_factory() as s:
        payload = adjudication_payload(s, s.get_one(ReviewTask, first))
    assert payload["data"] == {
        "lumicrs_task_id": first,
        "dialogue": [{"author": "seeker", "text": "Any creepy movie? #0"},
                     {"author": "recommender", "text": "Tail Film is terrifying."}],
        "target": "Tail Film (2011)", "tier": "tail", "judge_summary": "3/5 pass",
        "prototype": "seeker: I like scary films\nrecommender: Try Tail Film",
        "rationales": "judge-1: pass - rationale 1\njudge-2: pass - rationale 2\njudge-3: fail - rationale 3\n"
                      "judge-4: fail (invalid output) - rationale 4\nz-judge: pass - rationale 0"}
    assert payload["predictions"] == [{"model_version": "five-judges", "score": 0.6, "result": [
        {"from_name": "verdict", "to_name": "dialogue", "type": "choices", "value": {"choices": ["accept"]}}]}]


def test_an_edit_made_in_label_studio_is_parsed_stored_and_a_changed_edit_counts_as_a_change(
        session_factory: sessionmaker[Session]) -> None:
    fake, (t1, _), ls = setup(session_factory)

    def edit(*lines: str) -> None:
        result = [{"from_name": "verdict", "value": {"choices": ["edit"]}},
                  {"from_name": "reason", "value": {"text": ["fixed", "the title"]}},
                  {"from_name": "edited", "value": {"text": list(lines)}}]
        fake.annotations[(ls[t1], "ann@lab.org")] = ExportedAnnotation(ls[t1], fake.tasks[ls[t1]], "ann@lab.org",
                                                                       result, False)

    edit("Seeker: any creepy movie?", "Recommender: Tail Film (2011).")
    assert pull_annotations(session_factory, fake, PROJECT, PROJECT).pulled == 1  # type: ignore[arg-type]
    with session_factory() as s:
        review = s.scalars(select(Review)).one()
        assert (review.verdict, review.reason, review.source) == ("edit", "fixed the title", "labelstudio")
        assert review.edited_turns == [{"role": "seeker", "text": "any creepy movie?"},
                                       {"role": "recommender", "text": "Tail Film (2011)."}]
    again = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (again.pulled, again.unchanged) == (0, 1)
    edit("Seeker: any creepy movie?", "Recommender: Tail Film (2011), it is terrifying.")
    changed = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (changed.pulled, changed.unchanged) == (1, 0)
    edit("Seeker: any creepy movie?", "Recommnder: Tail Film (2011).")  # a mistyped label: refused, never merged
    refused = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert len(refused.invalid) == 1 and "is not a speaker label" in refused.invalid[0]


def test_the_judges_prediction_is_their_majority_and_their_pass_share(session_factory: sessionmaker[Session]) -> None:
    """Label Studio pre-selects the judges' majority: 2 of 5 passes is a reject (a tie is no majority), and the
    score is the share of passes, also for a single vote."""
    from annotator.sync import adjudication_payload
    from db.models import JudgeVote

    def prediction(passes: list[bool]) -> tuple[str, float]:
        with write_transaction(session_factory) as s:
            candidate_id = s.get_one(ReviewTask, first).candidate_id
            votes = list(s.scalars(select(JudgeVote).where(JudgeVote.candidate_id == candidate_id)
                                   .order_by(JudgeVote.judge)))
            for vote in votes[len(passes):]:
                s.delete(vote)
            for vote, passed in zip(votes, passes):
                vote.passed = passed
        with session_factory() as s:
            predicted = adjudication_payload(s, s.get_one(ReviewTask, first))["predictions"][0]
        return predicted["result"][0]["value"]["choices"][0], predicted["score"]

    with session_factory() as s:
        first, _ = make_review_queue(s, n=2)
    assert prediction([True, True, False, False, False]) == ("reject", 0.4)
    assert prediction([True, True, False, False]) == ("reject", 0.5)
    assert prediction([True, True, True, False]) == ("accept", 0.75)
    assert prediction([True]) == ("accept", 1.0)


def test_a_pull_before_any_push_makes_each_project_with_its_own_labeling_config(
        session_factory: sessionmaker[Session]) -> None:
    from annotator.labelstudio import label_config
    fake = FakeLabelStudio()
    for kind in ("adjudication", "rating"):
        summary = pull_annotations(session_factory, fake, kind, f"{kind} project")  # type: ignore[arg-type]
        assert (summary.pulled, summary.invalid, summary.unknown_tasks) == (0, [], [])
        assert fake.configs[f"{kind} project"] == label_config(kind)  # a later push finds it by title, as it is
    assert fake.configs["adjudication project"] != fake.configs["rating project"]


def test_a_skipped_unlinked_unknown_or_bad_annotation_never_stops_the_ones_after_it(
        session_factory: sessionmaker[Session]) -> None:
    fake, (t1, t2), ls = setup(session_factory)
    fake.tasks[9999] = {"lumicrs_task_id": t1}
    fake.annotate(ls[t1], "ann@lab.org", "accept", cancelled=True)   # skipped
    fake.annotate(ls[t1], "stranger@lab.org", "accept")              # unlinked
    fake.annotate(9999, "bob@lab.org", "accept")                     # a task never pushed
    fake.annotate(ls[t1], "bob@lab.org", "maybe")                    # not a verdict
    fake.annotate(ls[t2], "cy@lab.org", "reject", "dull")            # the one that counts
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (summary.pulled, summary.unknown_tasks, summary.held, len(summary.invalid)) == (
        1, [9999], {"stranger@lab.org": 1}, 1)
    with session_factory() as s:
        assert [(r.task_id, r.verdict) for r in s.scalars(select(Review))] == [(t2, "reject")]


def test_an_annotation_on_another_kinds_label_studio_task_id_is_an_unknown_task(
        session_factory: sessionmaker[Session]) -> None:
    """Label Studio ids are per server: a rating task pushed to another server may carry an id that an
    adjudication project on this one also has; pull matches ids within the kind it pulls."""
    from tests.factories import make_rating_queue
    fake, (t1, _), ls = setup(session_factory)
    with session_factory() as s:
        make_rating_queue(s, n=1, overlap=1)
    other_server = FakeLabelStudio()
    other_server.next_id = 900
    push_tasks(session_factory, other_server, "rating", "rating")  # type: ignore[arg-type]
    fake.tasks[901] = {"lumicrs_task_id": t1}
    fake.annotate(901, "ann@lab.org", "accept")
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (summary.unknown_tasks, summary.invalid, summary.pulled) == ([901], [], 0)


def test_only_synced_open_tied_tasks_of_the_pulled_kind_are_named_for_an_app_reviewer_in_id_order(
        session_factory: sessionmaker[Session]) -> None:
    from annotator.sync import tied_open_tasks
    from tests.factories import make_rating_queue
    fake, (a, b, done, unpushed), _ = setup(session_factory, n=4)
    with session_factory() as s:
        (rating,) = make_rating_queue(s, n=1, overlap=1)
    with write_transaction(session_factory) as s:
        for task_id in (b, a, done, unpushed, rating):
            s.get_one(ReviewTask, task_id).tied = True
            s.flush()
        s.get_one(ReviewTask, done).status = "done"
        s.get_one(ReviewTask, unpushed).labelstudio_task_id = None
        s.get_one(ReviewTask, rating).labelstudio_task_id = 4242
    with session_factory() as s:
        assert tied_open_tasks(s, PROJECT) == [a, b]
        assert tied_open_tasks(s, "rating") == [rating]
    assert pull_annotations(session_factory, fake, PROJECT, PROJECT).needs_app_reviewer == [a, b]  # type: ignore[arg-type]


def test_an_edit_turned_into_a_reject_in_label_studio_is_one_change(session_factory: sessionmaker[Session]) -> None:
    fake, (t1, _), ls = setup(session_factory)
    result = [{"from_name": "verdict", "value": {"choices": ["edit"]}},
              {"from_name": "reason", "value": {"text": ["named the target"]}},
              {"from_name": "edited", "value": {"text": ["Seeker: any creepy movie?", "Recommender: Tail Film (2011)."]}}]
    fake.annotations[(ls[t1], "ann@lab.org")] = ExportedAnnotation(ls[t1], fake.tasks[ls[t1]], "ann@lab.org", result,
                                                                   False)
    assert pull_annotations(session_factory, fake, PROJECT, PROJECT).pulled == 1  # type: ignore[arg-type]
    fake.annotate(ls[t1], "ann@lab.org", "reject", "dull")
    assert pull_annotations(session_factory, fake, PROJECT, PROJECT).pulled == 1  # type: ignore[arg-type]
    again = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (again.pulled, again.unchanged) == (0, 1)


RATING_SCORES = {"logical_persuasiveness": 4, "informativeness": 5, "lifelikeness": 3, "long_tail_relevance": 2,
                 "diversity": 1}


def rate_in(fake: FakeLabelStudio, ls_id: int, email: str, **changes: int) -> None:
    scores = {**RATING_SCORES, **changes}
    fake.annotations[(ls_id, email)] = ExportedAnnotation(
        ls_id, fake.tasks[ls_id], email, [{"from_name": k, "value": {"rating": v}} for k, v in scores.items()], False)


def test_ratings_from_label_studio_are_re_pulled_unchanged_and_retracted_alone(
        session_factory: sessionmaker[Session]) -> None:
    """Per rater and response: a re-pull of the same scores changes nothing while another rater or another response
    has scores too; a deleted annotation retracts that rater's Label Studio scores on that response only (not their
    app scores, not a judge's, not another rater's), one count each."""
    from db.models import Rating
    from db.queries.review import submit_ratings
    from tests.factories import make_rating_queue
    with session_factory() as s:
        first, second, third = make_rating_queue(s, n=3, overlap=2)
    with write_transaction(session_factory) as s:
        lead = get_or_create_reviewer(s, "boss", "lead")
        for name in ("rita", "ron"):
            get_or_create_reviewer(s, name, "researcher")
            link_email(s, name, f"{name}@lab.org", lead)
        s.add(Rating(response_id=s.get_one(ReviewTask, first).response_id, rater="judge-a", rater_kind="llm",
                     rubric="diversity", score=5))
        submit_ratings(s, third, get_or_create_reviewer(s, "rita", "researcher"), dict(RATING_SCORES), source="app")
    fake = FakeLabelStudio()
    push_tasks(session_factory, fake, "rating", "rating")  # type: ignore[arg-type]
    with session_factory() as s:
        ls = {t.id: t.labelstudio_task_id for t in s.scalars(select(ReviewTask))}
    rate_in(fake, ls[first], "rita@lab.org")
    rate_in(fake, ls[first], "ron@lab.org", diversity=3)
    rate_in(fake, ls[second], "rita@lab.org", lifelikeness=5)
    assert pull_annotations(session_factory, fake, "rating", "rating").pulled == 3  # type: ignore[arg-type]
    again = pull_annotations(session_factory, fake, "rating", "rating")  # type: ignore[arg-type]
    assert (again.pulled, again.unchanged, again.retracted) == (0, 3, 0)

    def scores() -> set[tuple[int, str, str, str]]:
        with session_factory() as s:
            task_of = {t.response_id: t.id for t in s.scalars(select(ReviewTask))}
            return {(task_of[r.response_id], r.rater, r.source, r.rater_kind) for r in s.scalars(select(Rating))}

    before = scores()
    del fake.annotations[(ls[first], "rita@lab.org")]
    del fake.annotations[(ls[second], "rita@lab.org")]
    gone = pull_annotations(session_factory, fake, "rating", "rating")  # type: ignore[arg-type]
    assert (gone.retracted, gone.pulled, gone.unchanged) == (2, 0, 1)
    assert before - scores() == {(first, "rita", "labelstudio", "human"), (second, "rita", "labelstudio", "human")}
    left = scores()
    assert {(first, "ron", "labelstudio", "human"), (third, "rita", "app", "human")} <= left
    assert any(row[:2] == (first, "judge-a") for row in left)
    del fake.annotations[(ls[first], "ron@lab.org")]  # the only Label Studio scores left, by the only rater left
    assert pull_annotations(session_factory, fake, "rating", "rating").retracted == 1  # type: ignore[arg-type]
    assert (first, "ron", "labelstudio", "human") not in scores()


class RecordingLabelStudio(FakeLabelStudio):
    """The fake, recording each import's size; `short` drops one id from the next import's answer."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.short = False

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        self.batches.append(len(tasks))
        ids = super().import_tasks(project_id, tasks)
        return ids[:-1] if self.short else ids


def test_push_makes_its_project_with_its_config_batches_quietly_and_counts_every_task(
        session_factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str]) -> None:
    from annotator.labelstudio import label_config
    with session_factory() as s:
        make_review_queue(s, n=5)
    fake = RecordingLabelStudio()
    with pytest.raises(ValueError, match="^batch size must be at least 1$"):
        push_tasks(session_factory, fake, PROJECT, PROJECT, batch_size=0)  # type: ignore[arg-type]
    summary = push_tasks(session_factory, fake, PROJECT, PROJECT, batch_size=2)  # type: ignore[arg-type]
    assert (summary.pushed, fake.batches, fake.configs) == (5, [2, 2, 1], {PROJECT: label_config(PROJECT)})
    assert capsys.readouterr().err == ""  # no progress bar unless asked
    again = push_tasks(session_factory, fake, PROJECT, PROJECT, batch_size=1)  # type: ignore[arg-type]
    assert (again.pushed, again.reconciled, fake.batches) == (0, 0, [2, 2, 1])  # synced tasks are not pushed again


def test_push_shows_progress_when_asked_and_its_default_batch_is_200(
        session_factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=201)
    fake = RecordingLabelStudio()
    assert push_tasks(session_factory, fake, PROJECT, PROJECT, progress=True).pushed == 201  # type: ignore[arg-type]
    assert fake.batches == [200, 1]
    err = capsys.readouterr().err
    assert "push adjudication" in err and "2/2" in err and "batch/s" in err


def test_push_takes_only_open_unsynced_tasks_of_its_kind(session_factory: sessionmaker[Session]) -> None:
    from tests.factories import make_rating_queue
    with session_factory() as s:
        open_task, done = make_review_queue(s, n=2)
        (rating,) = make_rating_queue(s, n=1, overlap=1)
    with write_transaction(session_factory) as s:
        s.get_one(ReviewTask, done).status = "done"
    fake = RecordingLabelStudio()
    assert push_tasks(session_factory, fake, PROJECT, PROJECT).pushed == 1  # type: ignore[arg-type]
    with session_factory() as s:
        synced = {t.id for t in s.scalars(select(ReviewTask).where(ReviewTask.labelstudio_task_id.is_not(None)))}
    assert synced == {open_task} and rating not in synced


def test_a_push_adopts_the_tasks_a_lost_reply_left_in_label_studio_and_keeps_one_copy(
        session_factory: sessionmaker[Session]) -> None:
    """An import whose reply was lost stored the tasks but the app never recorded their ids: the next push records
    the copy Label Studio holds (the lowest id where it holds two, the other deleted) and imports nothing again."""
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2)
    fake = RecordingLabelStudio()
    project = fake.ensure_project(PROJECT, "config")
    fake.import_tasks(project, [{"data": signed(session_factory, t1)}, {"data": signed(session_factory, t2)},
                                {"data": signed(session_factory, t2)}])  # ids 501, 502, 503
    summary = push_tasks(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (summary.pushed, summary.reconciled, summary.duplicates_removed) == (0, 2, [503])
    with session_factory() as s:
        assert {t.id: t.labelstudio_task_id for t in s.scalars(select(ReviewTask))} == {t1: 501, t2: 502}


def test_a_lost_id_in_an_import_reply_stops_the_push_before_recording_that_batch(
        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=2)
    fake = RecordingLabelStudio()
    fake.short = True
    with pytest.raises(ValueError):
        push_tasks(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    with session_factory() as s:
        assert not list(s.scalars(select(ReviewTask).where(ReviewTask.labelstudio_task_id.is_not(None))))


def test_the_copy_the_app_recorded_is_kept_even_when_label_studio_holds_a_lower_id(
        session_factory: sessionmaker[Session]) -> None:
    """Our task recorded 503; Label Studio also holds 502 (annotated: reported, kept) and 504 (deleted). Another
    recorded 506, also held as 505 (deleted)."""
    with session_factory() as s:
        ours, other = make_review_queue(s, n=2)
    fake = RecordingLabelStudio()
    project = fake.ensure_project(PROJECT, "config")
    fake.next_id = 501
    fake.import_tasks(project, [{"data": signed(session_factory, ours)}] * 3  # 502, 503, 504
                      + [{"data": signed(session_factory, other)}] * 2)  # 505, 506
    fake.annotate(502, "ann@lab.org", "accept")
    with write_transaction(session_factory) as s:
        s.get_one(ReviewTask, ours).labelstudio_task_id = 503
        s.get_one(ReviewTask, other).labelstudio_task_id = 506
    summary = push_tasks(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert (summary.duplicates_removed, summary.already_duplicated) == ([504, 505], 3)
    assert summary.duplicates_kept == [f"Label Studio task 502 repeats task 503 (our task {ours}) and has annotations: "
                                       "kept; pull takes them as annotations of our task"]
    with session_factory() as s:
        assert (s.get_one(ReviewTask, ours).labelstudio_task_id, s.get_one(ReviewTask, other).labelstudio_task_id) == (
            503, 506)
    assert sorted(fake.tasks) == [502, 503, 506]
