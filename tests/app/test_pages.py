"""Streamlit AppTest driving every page of the real app against SQLite and PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from db.models import Candidate, Dataset, DatasetExport, Movie, Rating, Response, Review, Reviewer, ReviewTask
from db.rubrics import RUBRICS
from db.settings import get_settings
from tests.factories import make_judged_panel, make_rating_queue, make_review_queue

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


PASSWORD = "correct horse battery"


def make_account(name: str, role: str = "annotator") -> str:
    """An account made the way a lead makes it (hashed password) in the test database; returns a session token."""
    from db.engine import make_engine, make_session_factory, write_transaction
    from db.queries.accounts import create_account, lead_count, open_web_session
    from db.settings import get_settings as db_settings

    with write_transaction(make_session_factory(make_engine(db_settings().database_url))) as s:
        reviewer = s.scalar(select(Reviewer).where(Reviewer.name == name, Reviewer.password_hash.is_not(None)))
        if reviewer is None:
            lead = s.scalar(select(Reviewer).where(Reviewer.role == "lead", Reviewer.password_hash.is_not(None)))
            if lead is None and not (role == "lead" and lead_count(s) == 0):
                lead = create_account(s, "root-lead", "lead", PASSWORD, by=None)
            reviewer = create_account(s, name, role, PASSWORD, by=lead)
        return open_web_session(s, reviewer)


def sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.sidebar.text_input(key="signin_name").input(name)
    at.sidebar.text_input(key="signin_password").input(password)
    at.button(key="signin_submit").click().run()
    assert not at.exception, at.exception
    return at


def open_page(page: str, name: str | None = "alice", role: str = "annotator") -> AppTest:
    """The app as `name` would find it after signing in (their session token in the URL, as after a reload)."""
    at = (AppTest.from_file(APP, default_timeout=60) if page == "review" else
          AppTest.from_string(f"from streamlit_app import main\nmain(default={page!r})", default_timeout=60))
    if name:
        at.query_params["session"] = make_account(name, role)
    at.run()
    assert not at.exception, at.exception
    return at


def test_review_accept_and_reject_need_reason(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        t1, t2 = make_review_queue(s, n=2, overlap=1)
    at = open_page("review", name=None)
    assert "Sign in" in at.info[0].value
    make_account("alice")
    sign_in(at, "alice")
    assert any("Target: Tail Film \\(2011\\) (tail tier) · judges 3/5 pass" in m.value for m in at.markdown)
    assert any("judge-4: INVALID output" in t.value for t in at.text)  # an invalid vote says so
    assert "0 today · 0 in all" in at.caption[0].value
    at.button(key="reject").click().run()
    assert "reason is required to reject" in at.error[0].value
    at.button(key="accept").click().run()
    assert not at.exception and "Saved: accept on task 1" in at.success[0].value
    assert "1 today · 1 in all" in at.caption[0].value
    at.text_input(key=f"reason_{t2}").input("too generic")  # typed, not yet committed: the form submits it
    at.button(key="reject").click().run()
    assert any("queue is empty" in i.value or "decided" in i.value for i in at.info)
    with session_factory() as s:
        verdicts = dict(s.execute(select(Review.task_id, Review.verdict)).all())
        assert verdicts == {t1: "accept", t2: "reject"}
        assert [c.status for c in s.scalars(select(Candidate).order_by(Candidate.id))] == ["accepted", "rejected"]
    at.button(key="undo").click().run()  # undo the last verdict: task t2 comes back to alice
    assert not at.exception and "Undone" in at.info[0].value
    with session_factory() as s:
        assert dict(s.execute(select(Review.task_id, Review.verdict)).all()) == {t1: "accept"}
        assert s.get_one(Candidate, s.get_one(ReviewTask, t2).candidate_id).status == "needs_review"


def test_review_edit_saves_edited_dialogue_and_refuses_unplaced_lines(
        database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1)
    at = open_page("review")
    assert at.button(key="edit").disabled  # Save edit acts on the edit box: shown by "Edit the dialogue"
    at.toggle(key=f"editing_{task}").set_value(True).run()
    at.text_input(key=f"reason_{task}").input("more natural")
    at.text_area(key=f"edited_{task}").input("this line has no speaker\nRecommender: ok").run()
    assert "Cannot save this edit: line 1" in at.error[0].value  # the preview says so as the box commits
    at.button(key="edit").click().run()
    assert "line 1" in at.error[-1].value and "Nothing was saved" in at.error[-1].value
    at.text_area(key=f"edited_{task}").input("Seeker: Any creepy movie? #0\nRecommender: Tail Film is terrifying.")
    at.button(key="edit").click().run()
    assert "nothing was changed" in at.error[-1].value  # the dialogue as it was: Accept, not an edit
    at.text_area(key=f"edited_{task}").input("Seeker: anything spooky?\nRecommender: Tail Film (2011),\nhonestly.")
    at.run()
    assert [m.value for m in at.caption if "turns" in m.value] == ["2 turns: what Save edit stores"]
    at.button(key="edit").click().run()
    assert not at.exception
    with session_factory() as s:
        review = s.scalars(select(Review)).one()
        assert review.verdict == "edit" and review.edited_turns[1]["text"] == "Tail Film (2011),\nhonestly."


def test_review_shows_a_cold_start_movies_catalog_facts_beside_its_dialogue(
        database_url: str, session_factory: sessionmaker[Session]) -> None:
    """No real dialogue mentions a cold-start movie: the page says so and opens what the writer was told about it."""
    from sqlalchemy import update

    from annotator.ui_review import COLD_START_NOTICE
    from db.models import Movie, Prototype

    with session_factory() as s:
        make_review_queue(s, n=1)  # target "Tail Film (2011)", genre horror
        s.execute(update(Movie).values(year=2011, meta={"genre": ["Horror"], "plot": "A house that eats its guests."}))
        s.commit()
    at = open_page("review")
    facts = [e for e in at.expander if e.label == "About the movie"]
    assert len(facts) == 1 and not any(COLD_START_NOTICE in i.value for i in at.info)  # a movie with train dialogues
    with session_factory() as s:
        s.execute(update(Prototype).values(weights={"cold_start": True}))
        s.commit()
    at = open_page("review")
    assert any(COLD_START_NOTICE in i.value for i in at.info)
    shown = [m.value for m in at.markdown]
    assert {"Year: 2011", "Genres: horror", "Plot: A house that eats its guests\\."} <= set(shown), shown
    assert any(e.label == "Prototype dialogue (chosen by the movie's text)" for e in at.expander)


def test_review_says_when_only_the_judges_are_the_placeholder_model(
        database_url: str, session_factory: sessionmaker[Session]) -> None:
    from sqlalchemy import update

    from db.models import JudgeVote

    with session_factory() as s:
        make_review_queue(s, n=1)
        s.execute(update(Candidate).values(generator="local-writer:0123abcd"))  # the fine-tuned writer's dialogue
        s.commit()
    at = open_page("review")
    assert not any("placeholder model" in c.value for c in at.caption)  # real judges: no notice
    with session_factory() as s:
        s.execute(update(JudgeVote).values(judge=JudgeVote.judge + ":gemma-3-270m"))  # the local demo's judges
        s.commit()
    at = open_page("review")
    notices = [c.value for c in at.caption if "placeholder model" in c.value]
    assert len(notices) == 1 and "fine-tuned writer" in notices[0] and "judge votes" in notices[0]


def test_the_review_page_hands_out_tasks_in_the_configured_queue_order(
        database_url: str, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    from db.models import ReviewTask
    from db.settings import get_settings

    with session_factory() as s:
        tasks = make_review_queue(s, n=3)
        for task_id, posterior in zip(tasks, (0.9, 0.55, None)):
            s.get_one(Candidate, s.get_one(ReviewTask, task_id).candidate_id).approve_posterior = posterior
        s.commit()
    shown = {}
    for order in ("uncertain", "oldest"):  # uncertain first: its pick is not the oldest task
        monkeypatch.setenv("LUMICRS_QUEUE_ORDER", order)
        get_settings.cache_clear()
        try:
            at = open_page("review", name=f"ann-{order}")
        finally:
            get_settings.cache_clear()
        shown[order] = next(int(c.value.split()[1]) for c in at.caption if c.value.startswith("task "))
    assert shown == {"oldest": tasks[0], "uncertain": tasks[1]}  # the posterior closest to one half first


def test_history_page_changes_a_verdict_and_redecides(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1, overlap=1)
    at = open_page("review")
    at.button(key="accept").click().run()
    at = open_page("history")
    assert at.dataframe[0].value["my verdict"].tolist() == ["accept"]
    assert at.selectbox(key=f"history_verdict_{task}").options == ["accept", "reject"]  # no edit of mine to keep
    at.selectbox(key=f"history_verdict_{task}").set_value("reject")
    at.button[0].click().run()
    assert "reason is required" in at.error[0].value
    at.selectbox(key=f"history_verdict_{task}").set_value("reject")
    at.text_input(key=f"history_reason_{task}").input("second look: off topic")
    at.button[0].click().run()
    assert not at.exception and "re-decided" in at.success[0].value
    with session_factory() as s:
        assert s.get_one(Candidate, s.get_one(ReviewTask, task).candidate_id).status == "rejected"


def test_rate_page_scores_five_rubrics_and_shows_titles(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_rating_queue(s, n=1, overlap=2)
        s.get_one(Response, 1).text = "how about @95495 ?"
        ds = s.scalars(select(Dataset)).one()
        s.add(Movie(dataset_id=ds.id, external_id="95495", title="Airplane! (1980)", meta={}))
        s.commit()
    at = open_page("rate", "rita", "researcher")
    assert any("how about Airplane! (1980) ?" in t.value for t in at.text)  # titles, not placeholders
    assert at.radio(key=f"{RUBRICS[0].key}_1").help == RUBRICS[0].guidance
    assert at.radio(key=f"{RUBRICS[0].key}_1").options == ["1", "2", "3", "4", "5", "N/A"]
    at.button(key="rate_submit").click().run()
    assert "Score every rubric first" in at.error[0].value
    for rubric in RUBRICS:
        at.radio(key=f"{rubric.key}_1").set_value("4")
    at.radio(key=f"{RUBRICS[4].key}_1").set_value("N/A")
    at.button(key="rate_submit").click().run()
    assert not at.exception
    with session_factory() as s:
        scores = dict(s.execute(select(Rating.rubric, Rating.score)).all())
        assert scores == {**{r.key: 4 for r in RUBRICS[:4]}, RUBRICS[4].key: None}  # N/A stored as such
        assert s.scalars(select(ReviewTask)).one().status == "open"  # overlap 2: one more rater needed


def test_dashboard_renders_with_data(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=2)
    anonymous = open_page("dashboard", name=None)
    assert not anonymous.header and "Sign in" in anonymous.info[0].value  # reviewer names are not public
    at = open_page("dashboard", "dana")
    assert not at.exception
    headers = [h.value for h in at.header]
    assert headers == ["Long tail", "Augmented candidates by tier", "Review throughput", "Verdict agreement",
                       "Judges against the reviewers", "Rating agreement", "Training runs"]
    assert at.selectbox(key="dash_dataset").value == "toy"
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert [c["encoding"]["x"]["field"] for c in charts] == ["tier"]  # no verdict yet: no throughput chart
    assert (charts[0]["mark"]["type"], charts[0]["encoding"]["color"]["field"]) == ("bar", "status")


def test_dashboard_shows_each_judge_against_the_reviewers_and_warns_on_chance(
        database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_judged_panel(s, decided=200, new=0, seed=5)  # judge-4 votes at random
        s.commit()
    at = open_page("dashboard", "dana")
    assert not at.exception
    table = next(frame.value for frame in at.dataframe if "candidates" in frame.value.columns)
    assert list(table["judge"]) == [f"judge-{i}" for i in range(5)] and set(table["candidates"]) == {200}
    kappa = dict(zip(table["judge"], table["kappa"]))
    assert kappa["judge-0"] > 0.8 and abs(kappa["judge-4"]) < 0.2
    warnings = [w.value for w in at.warning if "no better than chance" in w.value]
    assert len(warnings) == 1 and warnings[0].startswith("judge-4 is no better than chance by the judge model on 200")
    with session_factory() as s:
        approved = s.scalar(select(func.count()).select_from(Candidate).where(Candidate.status == "accepted"))
    assert all(cell.endswith(f" of {approved}") for cell in table["sensitivity"])  # a rate shows what it is over
    assert all(cell.endswith(f" of {200 - approved}") for cell in table["specificity"])
    lows = [float(ci.strip("[]").split(",")[0]) for ci in table["95% CI"]]
    assert all(-1 <= low <= 1 for low in lows)


def test_dashboard_estimates_the_judges_over_all_candidates_when_reviewers_saw_only_the_band(
        database_url: str, session_factory: sessionmaker[Session]) -> None:
    """The votes policy leaves reviewers the 2-3 band, where a good judge is mostly outvoted: the reviewed-only kappa
    understates it; the judge model's estimate over every judged candidate is the one shown first, and says so."""
    from calibration.judge_estimates import implied_kappa
    from tests.factories import PANEL

    with session_factory() as s:
        make_judged_panel(s, decided=400, new=0, seed=5, band_only=True)
        s.commit()
        decided = s.scalar(select(func.count()).select_from(Candidate)
                           .where(Candidate.status.in_(("accepted", "rejected"))))
    assert 0 < decided < 200
    at = open_page("dashboard", "dana")
    assert not at.exception
    model = next(frame.value for frame in at.dataframe if "sensitivity CI" in frame.value.columns)
    reviewed = next(frame.value for frame in at.dataframe if "candidates" in frame.value.columns)
    assert any(c.value.startswith("Estimated by the judge model") and f"all 400 judged candidates of toy, {decided} of "
               "them decided by a reviewer" in c.value for c in at.caption)
    by_model, by_band = dict(zip(model["judge"], model["kappa"])), dict(zip(reviewed["judge"], reviewed["kappa"]))
    for judge in ("judge-1", "judge-2", "judge-3"):  # true kappa over all candidates 0.53-0.59
        se, sp = PANEL[judge]
        assert abs(by_model[judge] - implied_kappa(se, sp, 0.6)) < 0.1
        assert by_band[judge] < by_model[judge] - 0.25
    warnings = [w.value for w in at.warning if "no better than chance" in w.value]
    assert len(warnings) == 1 and warnings[0].startswith("judge-4")  # only the judge that votes at random


def test_a_rate_always_shows_its_count() -> None:
    from annotator.ui_dashboard import rate_with_count

    assert (rate_with_count(1.0, 1), rate_with_count(0.5, 4), rate_with_count(float("nan"), 0)) == (
        "1.000 of 1", "0.500 of 4", "-")


def test_export_page_is_for_leads_previews_and_confirms(database_url: str, session_factory: sessionmaker[Session],
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMICRS_EXPORT_DIR", str(tmp_path))
    get_settings.cache_clear()
    with session_factory() as s:
        make_review_queue(s, n=1)
        s.get_one(Candidate, 1).status = "auto_accepted"
        s.add(Dataset(name="aaa-empty"))  # alphabetically first, nothing approved: not offered
        s.commit()
    at = open_page("export", "ann", "annotator")
    assert "Export approved data" not in [t.value for t in at.title]
    at = open_page("export", "lee", "lead")
    assert at.selectbox(key="export_dataset").options == ["toy"]
    assert at.text_input(key="export_name_toy").value == "toy-augmented"
    assert at.dataframe[0].value.to_dict("records") == [{"tier": "tail", "dialogues": 1}]
    assert at.dataframe[1].value.to_dict("records") == [{"decided": "auto-accepted", "dialogues": 1}]
    at.button[0].click().run()
    assert "confirmation" in at.error[0].value
    at.text_input(key="export_name_toy").input("../escape")
    at.checkbox(key="export_confirm_toy").check()
    at.button[0].click().run()
    assert "must be a slug" in at.error[0].value
    at.text_input(key="export_name_toy").input("toy-augmented")
    at.checkbox(key="export_confirm_toy").check()
    at.button[0].click().run()
    assert not at.exception and "Exported 1 dialogues as toy-augmented v1" in at.success[0].value
    with session_factory() as s:
        export = s.scalars(select(DatasetExport)).one()
        assert export.created_by == "lee" and Path(export.path).is_relative_to(tmp_path)
    get_settings.cache_clear()


def test_nobody_signs_in_without_an_account_and_roles_come_from_the_account(database_url: str) -> None:
    at = open_page("review", name=None)
    sign_in(at, "mallory", "any password at all")  # a new name is not an account
    assert "unknown name, wrong password or disabled account" in at.sidebar.error[0].value
    make_account("ann", "annotator")
    sign_in(at, "ann", "wrong password!")
    assert at.sidebar.error
    sign_in(at, "ann")
    assert "Signed in as ann (annotator)" in at.sidebar.caption[0].value
    for page, title in (("export", "Export approved data"), ("admin", "Accounts and guidelines")):
        as_annotator = open_page(page, "ann", "annotator")  # asking for the page lands on Review instead
        assert title not in [t.value for t in as_annotator.title]
        assert title in [t.value for t in open_page(page, "lee", "lead").title]


def test_lead_manages_accounts_on_the_admin_page(database_url: str) -> None:
    at = open_page("admin", "lee", "lead")
    at.text_input(key="admin_new_name").input("newbie")
    at.text_input(key="admin_new_password").input("temporary-pass-1")
    at.selectbox(key="admin_new_role").set_value("researcher")
    next(b for b in at.button if b.label == "Create account").click().run()
    assert not at.exception and "Account newbie created" in at.success[0].value
    at.selectbox(key="admin_name").set_value("newbie")
    next(b for b in at.button if b.label == "Disable").click().run()
    assert "disable done" in at.success[0].value
    fresh = open_page("review", name=None)
    sign_in(fresh, "newbie", "temporary-pass-1")
    assert fresh.sidebar.error  # disabled


def locks(session_factory: sessionmaker[Session]) -> list[tuple[int, int]]:
    from db.models import TaskLock

    with session_factory() as s:
        return [(lock.task_id, lock.reviewer_id) for lock in s.scalars(select(TaskLock))]


def test_only_annotators_land_on_review_and_leaving_it_gives_the_task_back(
        database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1)
    for name, role, marker in (("lee", "lead", "Dashboard"), ("rita", "researcher", "keys: 1-5 score")):
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["session"] = make_account(name, role)
        at.run()
        assert not at.exception and any(marker in e.value for e in [*at.title, *at.caption])
    assert locks(session_factory) == []  # opening the app claimed nothing for them
    token = make_account("alice")
    review = AppTest.from_file(APP, default_timeout=60)
    review.query_params["session"] = token
    review.run()
    assert any("Target:" in m.value for m in review.markdown) and [t for t, _ in locks(session_factory)] == [task]
    elsewhere = AppTest.from_string("from streamlit_app import main\nmain(default='history')", default_timeout=60)
    elsewhere.query_params["session"] = token
    elsewhere.session_state["held_task"] = ("review", task)  # what the Review page remembered in this browser
    elsewhere.run()
    assert not elsewhere.exception and locks(session_factory) == []


def test_undo_reaches_the_last_verdict_after_a_reload(database_url: str, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        (task,) = make_review_queue(s, n=1)
    open_page("review").button(key="accept").click().run()
    reloaded = open_page("review")  # a new browser session: nothing in session_state
    reloaded.button(key="undo").click().run()
    assert not reloaded.exception and f"Undone: your verdict on task {task}" in reloaded.info[0].value
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0


def test_an_account_disabled_after_the_page_rendered_cannot_act(database_url: str,
                                                                  session_factory: sessionmaker[Session]) -> None:
    from db.engine import write_transaction
    from db.queries.accounts import set_active

    with session_factory() as s:
        make_review_queue(s, n=1)
    at = open_page("review")
    with write_transaction(session_factory) as s:
        set_active(s, "alice", False, by=s.scalars(select(Reviewer).where(Reviewer.name == "root-lead")).one())
    at.button(key="accept").click().run()
    assert not at.exception and "session has ended or your account was disabled" in at.error[0].value
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0


def test_a_judge_vote_reads_with_or_without_a_rationale() -> None:
    """The local placeholder judges give scores only: their line ends with the scores, not a dangling dash."""
    from annotator.ui_review import _vote_line
    from db.models import JudgeVote
    scores = {"semantic": 4, "fluency": 3, "plausibility": 2}
    assert _vote_line(JudgeVote(judge="j1", valid=True, passed=False, rationale="", **scores)) == (
        "j1: FAIL (semantic 4, fluency 3, plausibility 2)")
    assert _vote_line(JudgeVote(judge="j2", valid=True, passed=True, rationale="fits", **scores)) == (
        "j2: PASS (semantic 4, fluency 3, plausibility 2) — fits")
    assert _vote_line(JudgeVote(judge="j3", valid=False, passed=False, rationale="")) == (
        "j3: INVALID output (counted as fail) — unparseable reply")
