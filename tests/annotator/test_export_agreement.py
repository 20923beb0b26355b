from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from annotator.agreement import (
    agreement_table,
    judge_human_correlation,
    krippendorff_alpha_nominal,
    krippendorff_alpha_ordinal,
)
from annotator.errors import PermissionDenied
from annotator.export import export_approved, export_preview
from db.export_files import sha256_file
from db.models import Candidate
from db.queries.identity import database_id
from db.queries.review import get_or_create_reviewer, submit_review
from db.secrets import mask_url
from db.settings import get_settings
from db.types import ExportRecord
from lumicrs_cli import app
from tests.factories import make_dataset, make_review_queue


def test_export_versions_provenance_and_hash(session: Session, tmp_path: Path) -> None:
    t1, t2, t3 = make_review_queue(session, n=3)
    ann = get_or_create_reviewer(session, "ann")
    submit_review(session, t1, ann, "edit", "warmer", [{"role": "seeker", "text": "Something creepy?"},
                                                       {"role": "recommender", "text": "Tail Film, trust me."}])
    submit_review(session, t2, ann, "reject", "generic")
    session.get_one(Candidate, 3).status = "auto_accepted"
    with pytest.raises(PermissionDenied, match="only leads"):
        export_approved(session, "toy", "toy-aug", ann, tmp_path)
    lead = get_or_create_reviewer(session, "lee", "lead")
    first = export_approved(session, "toy", "toy-aug", lead, tmp_path)
    second = export_approved(session, "toy", "toy-aug", lead, tmp_path)
    assert (first.version, second.version, first.n_rows) == (1, 2, 2)
    jsonl = Path(first.path)
    assert hashlib.sha256(jsonl.read_bytes()).hexdigest() == first.sha256 == second.sha256
    records = [ExportRecord.model_validate_json(line) for line in jsonl.read_text().splitlines()]
    edited = records[0]
    assert edited.decision == "accepted" and edited.reviewers == ("ann",)
    assert edited.turns[1].text == "Tail Film, trust me." and edited.turns[1].movie_ids == (edited.target_movie_id,)
    assert records[1].decision == "auto_accepted" and records[1].judges["judge-0"] is True
    frame = pd.read_parquet(jsonl.parent / "data.parquet")
    assert list(frame["candidate_id"]) == [1, 3] and set(frame["tier"]) == {"tail"}
    manifest = json.loads((jsonl.parent / "manifest.json").read_text())
    assert manifest["sha256"] == first.sha256 and manifest["by_decision"] == {"unanimous": 1, "auto-accepted": 1}
    assert (edited.decided_how, records[1].decided_how) == ("unanimous", "auto-accepted")


def test_export_says_how_each_dialogue_was_decided_and_refuses_bad_names(session: Session, tmp_path: Path) -> None:
    t1, t2 = make_review_queue(session, n=2, overlap=2)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    submit_review(session, t1, a, "accept")
    submit_review(session, t1, b, "reject", "meh")      # tie: one more reviewer
    submit_review(session, t1, c, "accept")             # 2-1 after a tie: adjudicated
    for who in (a, b):
        submit_review(session, t2, who, "accept")       # unanimous
    lead = get_or_create_reviewer(session, "lee", "lead")
    for bad in ("../x", "/abs", "", "Upper", "a/b", "..", "a..b", "x" * 65, "a.", "abc\n", "abc-", "\nabc", "a b"):
        with pytest.raises(ValueError, match="must be a slug"):
            export_approved(session, "toy", bad, lead, tmp_path)
    with pytest.raises(ValueError) as error:
        export_approved(session, "toy", "a..b", lead, tmp_path)
    assert str(error.value) == ("export name 'a..b' must be a slug: lower-case letters, digits, '.', '_' or '-' "
                                "(at most 64, starting and ending with a letter or digit)")
    with pytest.raises(ValueError) as error:
        export_approved(session, "toy", "heads", lead, tmp_path, tiers=("head", "body"))
    assert str(error.value) == "toy has no approved head/body dialogues: nothing to export"
    with pytest.raises(ValueError, match="nothing to export"):
        export_approved(session, "toy", "by-gen", lead, tmp_path, generators=("no-such-generator",))
    assert not (tmp_path / "by-gen").exists()
    export = export_approved(session, "toy", "toy-aug", lead, tmp_path)
    records = [ExportRecord.model_validate_json(line) for line in Path(export.path).read_text().splitlines()]
    assert [(r.candidate_id, r.decided_how) for r in records] == [(1, "adjudicated"), (2, "unanimous")]
    assert Path(export.path).resolve().is_relative_to(tmp_path.resolve())


def test_nominal_alpha_matches_the_reference_package() -> None:
    from annotator.agreement import krippendorff_alpha_nominal

    rng = random.Random(3)
    units = [[rng.choice(["approve", "reject"]) for _ in range(rng.randint(2, 4))] for _ in range(40)]
    data = np.full((4, len(units)), np.nan)
    for j, unit in enumerate(units):
        for i, value in enumerate(unit):
            data[i, j] = 0 if value == "approve" else 1
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(units) == pytest.approx(expected)
    assert krippendorff_alpha_nominal([["approve", "approve"], ["reject", "reject"]]) == pytest.approx(1.0)


def test_export_cli_requires_existing_lead(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMICRS_PASSWORD", "lead-password-1")
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--name", "x", "--by", "nobody", "--dataset", "toy"])
    assert result.exit_code == 3 and "add-reviewer nobody --role lead" in result.output
    assert runner.invoke(app, ["annotate", "add-reviewer", "boss", "--role", "lead"]).exit_code == 0
    result = runner.invoke(app, ["export", "--name", "x", "--by", "boss", "--dataset", "toy", "--out", str(tmp_path)])
    assert result.exit_code == 3 and "dataset 'toy' is not ingested" in result.output
    assert json.loads(runner.invoke(app, ["annotate", "queue", "--json"]).stdout)["adjudication_open"] == 0
    assert not (tmp_path / "x").exists()


def test_alpha_matches_reference_implementation() -> None:
    rng = random.Random(3)
    units = [[rng.randint(1, 5) for _ in range(rng.randint(1, 3))] for _ in range(50)]
    units += [[v, v, min(5, v + rng.randint(0, 1))] for v in (rng.randint(1, 5) for _ in range(30))]
    matrix = np.full((3, len(units)), np.nan)
    for j, unit in enumerate(units):
        matrix[: len(unit), j] = unit
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5])
    assert krippendorff_alpha_ordinal(units) == pytest.approx(expected)
    assert krippendorff_alpha_ordinal([[3, 3], [5, 5, 5], [1, 1]]) == 1.0


def test_agreement_table_and_correlation() -> None:
    assert judge_human_correlation([(1, 1), (2, 2), (3, 4)])["spearman"] == pytest.approx(1.0)
    ratings = [(r, rater, "human", "fluency", s) for r, scores in {1: (5, 5), 2: (1, 2), 3: (3, 3)}.items()
               for rater, s in zip(("a", "b"), scores)]
    ratings += [(1, "llm", "llm", "fluency", 4), (2, "llm", "llm", "fluency", 1), (3, "llm", "llm", "fluency", 3)]
    row = agreement_table(ratings)["fluency"]
    assert row["units"] == 3 and row["spearman"] == pytest.approx(1.0) and 0.8 < row["alpha"] <= 1.0


def test_spearman_and_pearson_by_hand_with_ties() -> None:
    from annotator.agreement import average_ranks

    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]  # tied 3s share ranks 3, 4
    assert average_ranks(np.array([2.0, 2.0, 2.0])).tolist() == [2.0, 2.0, 2.0]
    # judge ranks (1, 2.5, 2.5, 4), human ranks (1, 2, 3, 4): Pearson of the ranks, by hand
    got = judge_human_correlation([(1, 1), (3, 2), (3, 3), (5, 4)])
    ranks_j, ranks_h = np.array([1, 2.5, 2.5, 4]), np.array([1, 2, 3, 4])
    dj, dh = ranks_j - ranks_j.mean(), ranks_h - ranks_h.mean()
    assert got["spearman"] == pytest.approx((dj @ dh) / math.sqrt((dj @ dj) * (dh @ dh)))
    assert got["spearman"] == pytest.approx(0.9486833)
    x, y = np.array([1.0, 3, 3, 5]), np.array([1.0, 2, 3, 4])
    assert got["pearson"] == pytest.approx(((x - x.mean()) @ (y - y.mean())) / (4 * x.std() * y.std()))
    assert judge_human_correlation([(1, 5), (2, 4), (3, 3)])["spearman"] == pytest.approx(-1.0)


def test_mixed_rater_kinds_keep_humans_and_judges_apart() -> None:
    """Human alpha is computed over human scores only, whatever the LLM judges say on the same responses; the
    judge-human correlation pairs each response's mean judge score with its mean human score (humans: >= 1)."""
    rng = random.Random(7)
    humans = {r: [rng.randint(1, 5) for _ in range(rng.randint(1, 3))] for r in range(1, 25)}
    judges = {r: [rng.randint(1, 5) for _ in range(rng.randint(0, 2))] for r in range(1, 25)}
    ratings = [(r, f"h{i}", "human", "informativeness", s) for r, scores in humans.items() for i, s in enumerate(scores)]
    ratings += [(r, f"judge-{i}", "llm", "informativeness", s) for r, scores in judges.items() for i, s in enumerate(scores)]
    rng.shuffle(ratings)
    row = agreement_table(ratings)["informativeness"]
    assert row["alpha"] == pytest.approx(krippendorff_alpha_ordinal(humans.values()))
    assert row["units"] == sum(len(v) >= 2 for v in humans.values())
    pairs = [(float(np.mean(judges[r])), float(np.mean(humans[r]))) for r in humans if judges[r]]
    expected = judge_human_correlation(pairs)
    assert row["pairs"] == len(pairs) and row["spearman"] == pytest.approx(expected["spearman"])
    assert row["pearson"] == pytest.approx(expected["pearson"])
    only_judges = agreement_table([(1, "judge-1", "llm", "diversity", 3), (1, "judge-2", "llm", "diversity", 5)])
    assert math.isnan(only_judges["diversity"]["alpha"]) and only_judges["diversity"]["units"] == 0


def test_judge_alpha_pairs_the_llm_score_with_each_human_score() -> None:
    ratings = [(1, "a", "human", "fluency", 5), (1, "b", "human", "fluency", 4), (2, "a", "human", "fluency", 1),
               (1, "llm", "llm", "fluency", 4), (2, "llm", "llm", "fluency", 2), (3, "llm", "llm", "fluency", 3)]
    row = agreement_table(ratings)["fluency"]
    assert row["judge_units"] == 3  # (4, 5), (4, 4), (2, 1); response 3 has no human score
    assert row["judge_alpha"] == pytest.approx(krippendorff_alpha_ordinal([[4, 5], [4, 4], [2, 1]]))


def test_cohen_kappa_and_the_judge_table_by_hand() -> None:
    from annotator.agreement import cohen_kappa, judge_verdict_table

    kappa, (lo, hi) = cohen_kappa([(True, True), (True, True), (False, False), (True, False)])
    # p_o = 3/4, p_e = .75 * .5 + .25 * .5 = 1/2 -> kappa = 1/2; half width 1.96 sqrt(.75 * .25 / (4 * .25))
    assert kappa == pytest.approx(0.5) and kappa - lo == pytest.approx(1.96 * math.sqrt(0.1875))
    assert hi == 1.0  # 0.5 + 0.849 runs past kappa's range: clipped
    # p_o 1/3, p_e 5/9: kappa -1/2, half width 1.96 sqrt((2/9) / (3 (4/9)^2)) = 1.200: -1.700 is clipped to -1
    kappa, interval = cohen_kappa([(True, False), (False, True), (True, True)])
    assert (kappa, interval) == (pytest.approx(-0.5), pytest.approx((-1.0, -0.5 + 1.96 * math.sqrt(0.375))))
    table = judge_verdict_table([("j", True, True), ("j", True, True), ("j", False, False), ("j", True, False)]
                                + [("good", a, a) for a in [True] * 20 + [False] * 20])
    assert table["j"]["sensitivity"] == 1.0 and table["j"]["specificity"] == 0.5 and table["j"]["chance"] == 1.0
    assert (table["j"]["approved"], table["j"]["rejected"]) == (2.0, 2.0)  # the counts each rate is taken over
    assert table["good"]["kappa"] == 1.0 and table["good"]["chance"] == 0.0 and table["good"]["candidates"] == 40
    assert math.isnan(cohen_kappa([])[0]) and math.isnan(cohen_kappa([(True, True)] * 3)[0])  # p_e = 1


def test_correlation_needs_three_pairs_and_variance() -> None:
    assert math.isnan(judge_human_correlation([(1, 2), (3, 4)])["spearman"])
    assert math.isnan(judge_human_correlation([(3, 1), (3, 2), (3, 5)])["pearson"])  # a constant judge
    result = judge_human_correlation([(1, 5), (2, 4), (3, 1), (4, 2)])
    assert result["n"] == 4 and result["spearman"] == pytest.approx(-0.8) and result["pearson"] < 0


def test_export_takes_the_latest_of_several_edits(session: Session, tmp_path: Path) -> None:
    (task,) = make_review_queue(session, n=1, overlap=3)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    first = [{"role": "seeker", "text": "First edit?"}, {"role": "recommender", "text": "Tail Film, edit one."}]
    second = [{"role": "seeker", "text": "Second edit?"}, {"role": "recommender", "text": "Tail Film, edit two."},
              {"role": "seeker", "text": "Great."}]
    submit_review(session, task, a, "edit", "tone", first)
    submit_review(session, task, b, "edit", "longer", second)
    submit_review(session, task, c, "accept")
    lead = get_or_create_reviewer(session, "lee", "lead")
    export = export_approved(session, "toy", "edits", lead, tmp_path)
    (record,) = [ExportRecord.model_validate_json(line) for line in Path(export.path).read_text().splitlines()]
    assert [t.text for t in record.turns] == [t["text"] for t in second]
    assert record.reviewers == ("a", "b", "c") and record.decided_how == "unanimous"
    assert record.turns[1].movie_ids == (record.target_movie_id,) and record.turns[0].movie_ids == ()


def test_alpha_edge_cases_one_pair_no_variation_and_nothing_pairable() -> None:
    assert krippendorff_alpha_ordinal([[1, 2]]) == pytest.approx(0.0)      # one pair that disagrees
    assert krippendorff_alpha_ordinal([[3, 3]]) == 1.0                      # no variation at all: perfect
    assert krippendorff_alpha_ordinal([[3, 3], [4, 4]]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha_ordinal([[3], [4]]))               # nothing pairable
    assert krippendorff_alpha_nominal([["a", "b"]]) == pytest.approx(0.0)
    assert krippendorff_alpha_nominal([["a", "a"]]) == 1.0
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha_nominal([["a"], ["b"]]))


def test_correlation_is_computed_whenever_both_sides_vary() -> None:
    result = judge_human_correlation([(1.0, 1.0), (3.0, 3.0), (1.0, 1.0), (3.0, 3.0)])  # both std exactly 1
    assert result == {"n": 4.0, "spearman": pytest.approx(1.0), "pearson": pytest.approx(1.0)}
    for flat in ([(2.0, 1.0), (2.0, 3.0), (2.0, 5.0)], [(1.0, 2.0), (3.0, 2.0), (5.0, 2.0)], [(1.0, 2.0)]):
        result = judge_human_correlation(flat)
        assert set(result) == {"n", "spearman", "pearson"} and result["n"] == len(flat)
        assert math.isnan(result["spearman"]) and math.isnan(result["pearson"])


def test_export_selects_by_tier_and_generator_and_every_file_says_the_same(session: Session, tmp_path: Path) -> None:
    t1, t2, t3, t4 = make_review_queue(session, n=4, overlap=2)
    candidates = [session.get_one(Candidate, i) for i in (1, 2, 3, 4)]
    candidates[1].tier, candidates[2].generator = "body", "other-gen"
    candidates[3].status, candidates[3].tier, candidates[3].pass_votes = "auto_accepted", "head", None
    a, b = get_or_create_reviewer(session, "bea"), get_or_create_reviewer(session, "al")
    for task in (t1, t2, t3):
        submit_review(session, task, a, "accept")
        submit_review(session, task, b, "accept")
    submit_review(session, t1, a, "accept")  # a changed nothing: still one reviewer entry, first-review order kept
    lead = get_or_create_reviewer(session, "lee", "lead")
    default = export_approved(session, "toy", "all", lead, tmp_path)
    folder = Path(default.path).parent
    records = [ExportRecord.model_validate_json(line) for line in Path(default.path).read_text().splitlines()]
    assert [r.candidate_id for r in records] == [1, 2, 3]                       # head tier left out by default
    assert [r.reviewers for r in records] == [("bea", "al")] * 3
    assert [r.pass_votes for r in records] == [3, 3, 3]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest.pop("database") == mask_url(get_settings().database_url)
    assert (manifest.pop("export_id"), manifest.pop("database_id")) == (default.id, database_id(session))
    assert manifest == {"name": "all", "version": 1, "sha256": default.sha256, "rows": 3, "created_by": "lee",
                        "dataset": "toy", "tiers": ["body", "tail"], "generator_filter": [],
                        "generators": {"gen-ok": 2, "other-gen": 1}, "placeholder_rows": 0,
                        "placeholder_written_rows": 0, "placeholder_judged_rows": 0, "guidelines_version": 0,
                        "guidelines_by": None, "judges": {f"judge-{j}": 3 for j in range(5)},
                        "by_tier": {"tail": 2, "body": 1}, "by_decision": {"unanimous": 3}}
    assert default.params == {k: v for k, v in manifest.items() if k not in ("name", "version", "sha256", "rows",
                                                                              "created_by")}
    assert (default.n_rows, default.created_by, default.path) == (3, "lee", str(folder / "data.jsonl"))
    frame = pd.read_parquet(folder / "data.parquet")
    assert [json.loads(t) for t in frame["turns"]] == [[t.model_dump(mode="json") for t in r.turns] for r in records]
    assert [json.loads(j) for j in frame["judges"]] == [r.judges for r in records]
    assert [list(x) for x in frame["reviewers"]] == [list(r.reviewers) for r in records]
    import pyarrow.parquet as pq  # what any parquet reader sees: the record's fields, no pandas index column

    assert pq.read_schema(folder / "data.parquet").names == list(ExportRecord.model_fields)
    assert sorted(p.name for p in tmp_path.joinpath("all").iterdir()) == ["v1"]   # no staging folder left behind
    heads = export_approved(session, "toy", "heads", lead, tmp_path, tiers=("head",))
    head = ExportRecord.model_validate_json(Path(heads.path).read_text())
    assert (head.candidate_id, head.pass_votes, head.decision, head.decided_how, head.reviewers) == (
        4, 0, "auto_accepted", "auto-accepted", ())
    other = export_approved(session, "toy", "other", lead, tmp_path, generators=("other-gen",))
    assert [ExportRecord.model_validate_json(x).candidate_id for x in Path(other.path).read_text().splitlines()] == [3]
    with pytest.raises(ValueError, match=r"toy has no approved body dialogues from gen-x, gen-y: nothing to export"):
        export_approved(session, "toy", "none", lead, tmp_path, tiers=("body",), generators=("gen-x", "gen-y"))
    empty = export_approved(session, "toy", "none", lead, tmp_path, tiers=("body",), generators=("gen-x",),
                            allow_empty=True)
    assert (empty.n_rows, Path(empty.path).read_text()) == (0, "")


def test_a_folder_left_by_a_crashed_export_is_passed_over_never_replaced(session: Session, tmp_path: Path) -> None:
    make_review_queue(session, n=1)
    session.get_one(Candidate, 1).status = "auto_accepted"
    lead = get_or_create_reviewer(session, "lee", "lead")
    stale = tmp_path / "toy-aug" / "v1"
    stale.mkdir(parents=True)
    (stale / "data.jsonl").write_text("half-written\n")  # the rename happened, the row's commit did not
    (stale / "manifest.json").write_text(json.dumps({"database": mask_url(get_settings().database_url)}))
    export = export_approved(session, "toy", "toy-aug", lead, tmp_path)
    assert export.version == 2 and (stale / "data.jsonl").read_text() == "half-written\n"
    assert hashlib.sha256(Path(export.path).read_bytes()).hexdigest() == export.sha256


def test_export_preview_counts_every_approved_dialogue_and_shows_the_first_three(session: Session) -> None:
    from annotator.export import export_preview

    tasks = make_review_queue(session, n=5, overlap=1)
    ann = get_or_create_reviewer(session, "ann")
    for task in tasks[:4]:
        submit_review(session, task, ann, "accept")
    submit_review(session, tasks[4], ann, "reject", "generic")
    preview = export_preview(session, "toy")
    assert (preview["rows"], preview["by_tier"], preview["by_decision"]) == (4, {"tail": 4}, {"unanimous": 4})
    assert [r.candidate_id for r in preview["sample"]] == [1, 2, 3]
    assert [r.candidate_id for r in export_preview(session, "toy", rows=1)["sample"]] == [1]


def _export_records(session: Session, tmp_path: Path, name: str) -> list[ExportRecord]:
    lead = get_or_create_reviewer(session, "lee", "lead")
    export = export_approved(session, "toy", name, lead, tmp_path)
    return [ExportRecord.model_validate_json(x) for x in Path(export.path).read_text().splitlines()]


def test_only_an_edit_verdict_changes_the_exported_dialogue(session: Session, tmp_path: Path) -> None:
    (task,) = make_review_queue(session, n=1, overlap=1)
    ann = get_or_create_reviewer(session, "ann")
    stray = [{"role": "seeker", "text": "Not the dialogue"}, {"role": "recommender", "text": "Tail Film?"}]
    submit_review(session, task, ann, "accept", edited_turns=stray)  # turns sent beside an accept are not an edit
    (record,) = _export_records(session, tmp_path, "accepts")
    assert [t.text for t in record.turns] == ["Any creepy movie? #0", "Tail Film is terrifying."]


def test_exported_reviewers_follow_the_order_of_their_verdicts_then_their_ids(session: Session, tmp_path: Path) -> None:
    from datetime import timedelta

    from db.models import Review
    from db.queries.review import now_utc

    (task,) = make_review_queue(session, n=1, overlap=3)
    a, b, c = (get_or_create_reviewer(session, n) for n in ("a", "b", "c"))
    for reviewer in (a, b, c):
        submit_review(session, task, reviewer, "accept")
    now = now_utc()
    stamps = {a.id: now, b.id: now - timedelta(minutes=5), c.id: now}  # b first; a and c at once: a's row is older
    for reviewer in (b, c, a):  # a's row rewritten last: on PostgreSQL it now comes after c's in the table
        session.query(Review).filter(Review.reviewer_id == reviewer.id).one().created_at = stamps[reviewer.id]
        session.flush()
    (record,) = _export_records(session, tmp_path, "order")
    assert record.reviewers == ("b", "a", "c")


def test_each_record_carries_its_own_judges_and_a_consistent_decision(session: Session, tmp_path: Path) -> None:
    from db.models import JudgeVote

    t1, t2 = make_review_queue(session, n=2, overlap=1)
    for vote in session.query(JudgeVote).filter(JudgeVote.candidate_id == 2):
        vote.passed = not vote.passed  # candidate 2: judges 0-2 failed it, 3-4 passed it
    ann = get_or_create_reviewer(session, "ann")
    submit_review(session, t1, ann, "accept")
    submit_review(session, t2, ann, "accept")
    session.get_one(Candidate, 2).status = "auto_accepted"  # re-routed after its human decision
    session.flush()
    first, second = _export_records(session, tmp_path, "judges")
    assert first.judges == {"judge-0": True, "judge-1": True, "judge-2": True, "judge-3": False, "judge-4": False}
    assert second.judges == {"judge-0": False, "judge-1": False, "judge-2": False, "judge-3": True, "judge-4": True}
    assert (first.decision, first.decided_how) == ("accepted", "unanimous")
    assert (second.decision, second.decided_how) == ("auto_accepted", "auto-accepted")


def test_a_staging_folder_left_by_a_killed_export_does_not_block_the_next(session: Session, tmp_path: Path) -> None:
    import os

    (task,) = make_review_queue(session, n=1, overlap=1)
    submit_review(session, task, get_or_create_reviewer(session, "ann"), "accept")
    leftover = tmp_path / "kept" / f".v1.{os.getpid()}.tmp"
    leftover.mkdir(parents=True)
    (leftover / "data.jsonl").write_text("half a file")
    (record,) = _export_records(session, tmp_path, "kept")
    assert record.candidate_id == 1 and not leftover.exists()
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["v1"]


def test_an_export_that_fails_while_writing_leaves_no_folder_and_no_row(session: Session, tmp_path: Path) -> None:
    import os

    from db.models import DatasetExport

    (task,) = make_review_queue(session, n=1, overlap=1)
    submit_review(session, task, get_or_create_reviewer(session, "ann"), "accept")
    staging = tmp_path / "broken" / f".v1.{os.getpid()}.tmp"
    (staging / "manifest.json").mkdir(parents=True)  # the manifest cannot be written: a folder is in its place
    with pytest.raises(OSError):
        with session.begin_nested():
            export_approved(session, "toy", "broken", get_or_create_reviewer(session, "lee", "lead"), tmp_path)
    assert list((tmp_path / "broken").iterdir()) == []  # staging removed, no v1
    assert session.query(DatasetExport).count() == 0


def test_an_export_names_placeholder_rows_and_says_when_nothing_changed(session: Session, tmp_path: Path) -> None:
    (t1,) = make_review_queue(session, n=1, overlap=1)
    session.get_one(Candidate, 1).generator = "llm-fewshot:gemma-3-270m"
    submit_review(session, t1, get_or_create_reviewer(session, "bea"), "accept")
    lead = get_or_create_reviewer(session, "lee", "lead")
    first = export_approved(session, "toy", "ph", lead, tmp_path)
    assert first.params["generators"] == {"llm-fewshot:gemma-3-270m": 1} and first.params["placeholder_rows"] == 1
    assert "identical_to_version" not in first.params
    second = export_approved(session, "toy", "ph", lead, tmp_path)
    assert second.version == 2 and second.params["identical_to_version"] == 1
    assert export_preview(session, "toy")["placeholder_rows"] == 1


def test_rows_only_placeholder_judges_approved_are_counted_and_warned(session: Session, tmp_path: Path) -> None:
    """A row the placeholder judges auto-accepted with no reviewer carries no signal, whoever wrote it; a row a
    reviewer accepted does, whatever the judges were."""
    from sqlalchemy import update

    from annotator.export import placeholder_warning
    from db.models import JudgeVote

    t1, t2, t3 = make_review_queue(session, n=3, overlap=1)
    session.execute(update(JudgeVote).values(judge=JudgeVote.judge + ":gemma-3-270m"))
    session.execute(update(Candidate).where(Candidate.id.in_([1, 2])).values(status="auto_accepted"))
    session.get_one(Candidate, 2).generator = "llm-fewshot:gemma-3-270m"  # written and judged by the placeholder
    submit_review(session, t3, get_or_create_reviewer(session, "bea"), "accept")  # a reviewer's accept: signal
    lead = get_or_create_reviewer(session, "lee", "lead")
    export = export_approved(session, "toy", "ph", lead, tmp_path)
    counts = {k: export.params[k] for k in ("placeholder_rows", "placeholder_written_rows", "placeholder_judged_rows")}
    assert counts == {"placeholder_rows": 2, "placeholder_written_rows": 1, "placeholder_judged_rows": 2}
    assert export.params["warning"] == placeholder_warning(export.params, 3) == (
        "2 of 3 rows carry no signal (1 written by the placeholder model; 2 approved by the placeholder judges alone, "
        "with no reviewer): fine for trying the workflow, not data to train on")
    manifest = json.loads((Path(export.path).parent / "manifest.json").read_text())
    assert manifest["placeholder_judged_rows"] == 2 and manifest["warning"] == export.params["warning"]
    assert placeholder_warning({"placeholder_rows": 0}, 3) is None


def test_an_export_of_a_dataset_without_approved_rows_names_the_one_that_has_them(session: Session,
                                                                                 tmp_path: Path) -> None:
    (t1,) = make_review_queue(session, n=1, overlap=1)  # dataset 'toy'
    submit_review(session, t1, get_or_create_reviewer(session, "bea"), "accept")
    make_dataset(session, "redial")
    lead = get_or_create_reviewer(session, "lee", "lead")
    with pytest.raises(ValueError, match=r"^redial has no approved body/tail dialogues: nothing to export; toy has 1: "
                                         r"use --dataset toy$"):
        export_approved(session, "redial", "x", lead, tmp_path)


def test_the_manifest_names_the_database_as_given(session: Session, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (t1,) = make_review_queue(session, n=1, overlap=1)
    submit_review(session, t1, get_or_create_reviewer(session, "bea"), "accept")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////abs/path/app.db")
    get_settings.cache_clear()
    try:
        export = export_approved(session, "toy", "named", get_or_create_reviewer(session, "lee", "lead"), tmp_path)
    finally:
        get_settings.cache_clear()
    assert json.loads((Path(export.path).parent / "manifest.json").read_text())["database"] == "sqlite:////abs/path/app.db"


def test_an_export_never_replaces_a_folder_another_database_or_a_restored_backup_wrote(
        session: Session, tmp_path: Path, database_url: str) -> None:
    """Another database sharing the export folder, a folder with no manifest, and a copy of this very database (a
    restored backup: the same identity, without the export the original made): each gets the next free version."""
    (t1,) = make_review_queue(session, n=1, overlap=1)
    submit_review(session, t1, get_or_create_reviewer(session, "bea"), "accept")
    lead = get_or_create_reviewer(session, "lee", "lead")
    theirs = tmp_path / "shared" / "v1"
    theirs.mkdir(parents=True)
    (theirs / "manifest.json").write_text(json.dumps({"database": "sqlite:///someone-else.db", "sha256": "x"}))
    (theirs / "data.jsonl").write_text("their data\n")
    assert export_approved(session, "toy", "shared", lead, tmp_path).version == 2
    assert (theirs / "data.jsonl").read_text() == "their data\n"
    (tmp_path / "bare" / "v1").mkdir(parents=True)
    assert export_approved(session, "toy", "bare", lead, tmp_path).version == 2
    original = export_approved(session, "toy", "backed-up", lead, tmp_path)
    session.delete(original)  # a backup taken before this export: its row is not there, its folder is
    session.flush()
    again = export_approved(session, "toy", "backed-up", lead, tmp_path)
    assert (original.version, again.version) == (1, 2)
    assert json.loads((tmp_path / "backed-up" / "v1" / "manifest.json").read_text())["sha256"] == original.sha256


def test_the_trainer_checks_an_export_against_the_databases_record(session: Session, tmp_path: Path) -> None:
    from db.export_files import verify_export
    from db.queries.runs import check_against_database

    (t1,) = make_review_queue(session, n=1, overlap=1)
    submit_review(session, t1, get_or_create_reviewer(session, "bea"), "accept")
    export = export_approved(session, "toy", "checked", get_or_create_reviewer(session, "lee", "lead"), tmp_path)
    data = Path(export.path)
    check_against_database(session, verify_export(data))  # untouched: fine
    data.write_text(data.read_text().replace("Tail Film", "Edited Film"))
    manifest = json.loads((data.parent / "manifest.json").read_text())
    manifest["sha256"] = sha256_file(data)  # the manifest edited to match
    (data.parent / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"its manifest says checked v1 \(.*\) but this database recorded export"):
        check_against_database(session, verify_export(data))


def test_the_trainer_checks_an_export_by_its_id_whatever_names_the_file(session: Session, tmp_path: Path) -> None:
    """A manifest renamed to another version, the file named by another path (x/../x/v1, a copy), a database that has
    no record of the export (restored from an older backup): refused; the same file by another path: accepted."""
    import shutil

    from db.export_files import verify_export
    from db.models import DatasetExport
    from db.queries.runs import check_against_database

    (t1,) = make_review_queue(session, n=1, overlap=1)
    submit_review(session, t1, get_or_create_reviewer(session, "bea"), "accept")
    export = export_approved(session, "toy", "checked", get_or_create_reviewer(session, "lee", "lead"), tmp_path)
    data = Path(export.path)
    odd = data.parent.parent / ".." / "checked" / "v1" / "data.jsonl"
    check_against_database(session, verify_export(odd))  # another path to the same file: the same export
    copy = tmp_path / "copy" / "v9"
    shutil.copytree(data.parent, copy)
    check_against_database(session, verify_export(copy / "data.jsonl"))  # a copy: still export 1's content
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "version": 7, "name": "renamed"}))
    with pytest.raises(ValueError, match=r"its manifest says renamed v7 .* recorded export \d+ as checked v1"):
        check_against_database(session, verify_export(copy / "data.jsonl"))
    session.delete(session.get_one(DatasetExport, export.id))  # what a database restored from an older backup lacks
    session.flush()
    with pytest.raises(ValueError, match="this database made the export but has no export"):
        check_against_database(session, verify_export(data))


def test_the_human_study_defaults_are_the_papers_protocol(session: Session) -> None:
    """LumiCRS Sec. 5.3: 1,000 responses scored by the LLM judge, 200 of them also by three people. The sample is
    seeded; only the human share gets rating tasks (three raters each); a second sample adds nothing."""
    import inspect

    from db.models import Response, ReviewTask
    from db.queries.responses import sample_corpus_responses
    from tests.factories import make_conversation, make_dataset

    defaults = inspect.signature(sample_corpus_responses).parameters
    assert (defaults["n"].default, defaults["human"].default, defaults["overlap"].default) == (1000, 200, 3)
    ds = make_dataset(session, "study")
    for c in range(6):
        turns = [("seeker" if t % 2 == 0 else "recommender", f"turn {c}-{t}", []) for t in range(6)]
        make_conversation(session, ds, f"s{c}", turns, split="test")
    summary = sample_corpus_responses(session, "study", 10, human=4)
    assert (summary.added, summary.tasks, summary.skipped_existing) == (10, 4, 0)
    tasks = list(session.scalars(select(ReviewTask).where(ReviewTask.kind == "rating")))
    assert len(tasks) == 4 and {t.overlap for t in tasks} == {3}
    assert session.scalar(select(func.count()).select_from(Response)) == 10
    again = sample_corpus_responses(session, "study", 10, human=4)
    assert (again.added, again.tasks, again.skipped_existing) == (0, 0, 10)
