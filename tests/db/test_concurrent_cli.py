"""Two CLI processes of ingest, db upgrade and export at once, on SQLite and PostgreSQL: both end cleanly (exit 0,
no traceback) and the data is what one run would have made. A leftover version folder blocks nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Candidate, DatasetExport
from db.secrets import mask_url
from tests.db.test_ingest import table_counts
from tests.factories import make_review_queue, redial_line, write_redial_dir

REPO = Path(__file__).resolve().parents[2]


def run_twice(database_url: str, *args: str, env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    environment = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    command = [sys.executable, "-c", "from lumicrs_cli import app; app()", *args]
    processes = [subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    for result in results:
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return results


def test_two_upgrades_and_two_ingests_at_once(database_url: str, tmp_path: Path,
                                              session_factory: sessionmaker[Session]) -> None:
    run_twice(database_url, "db", "upgrade")
    lines = [redial_line(100 + i, [(10, f"hi @1 #{i}"), (20, "try @2"), (10, "ok @3")]) for i in range(200)]
    path = write_redial_dir(tmp_path / "redial", lines)
    results = run_twice(database_url, "ingest", "redial", str(path), "--json")
    added = sorted(json.loads(r.stdout)["conversations_added"] for r in results)
    assert added == [0, 200]  # one run wrote everything, the other waited and found it there
    with session_factory() as s:
        assert table_counts(s)["conversations"] == 200 and table_counts(s)["utterances"] == 600


def test_two_exports_at_once_get_distinct_versions(database_url: str, tmp_path: Path,
                                                   session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        make_review_queue(s, n=3)
        for c in s.scalars(select(Candidate)):
            c.status = "auto_accepted"
        s.commit()
    leftover = tmp_path / "toy-aug" / "v1"  # left by a crashed run: no row owns v1, nobody replaces it
    leftover.mkdir(parents=True)
    (leftover / "manifest.json").write_text(json.dumps({"database": mask_url(database_url)}))
    env = {"LUMICRS_PASSWORD": "lead-password-1", "LUMICRS_EXPORT_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", "from lumicrs_cli import app; app()", "annotate", "add-reviewer", "lee",
                    "--role", "lead"], cwd=REPO, env={**os.environ, "DATABASE_URL": database_url, **env}, check=True,
                   capture_output=True)
    results = run_twice(database_url, "export", "--name", "toy-aug", "--by", "lee", "--dataset", "toy", "--json", env=env)
    versions = sorted(json.loads(r.stdout)["version"] for r in results)
    assert versions == [2, 3] and sorted(p.name for p in leftover.iterdir()) == ["manifest.json"]
    with session_factory() as s:
        rows = list(s.scalars(select(DatasetExport).order_by(DatasetExport.version)))
        assert [r.version for r in rows] == [2, 3] and all(Path(r.path).exists() for r in rows)
        assert s.scalar(select(func.count()).select_from(DatasetExport)) == 2
    assert not list((tmp_path / "toy-aug").glob(".*tmp"))


def test_two_generations_at_once_store_each_dialogue_once(database_url: str,
                                                          session_factory: sessionmaker[Session]) -> None:
    """Two `augment generate` processes over the same prototypes: each job (prototype, generator, sample index) is
    stored once, the process that finds it taken skips it without failing, and together they create every job."""
    from db.models import Conversation, Movie, Prototype
    from tests.augment.conftest import build_longtail_corpus

    with session_factory() as s:
        build_longtail_corpus(s)
        tail = s.scalars(select(Movie).where(Movie.external_id == "t")).one()
        conversation = s.scalars(select(Conversation).order_by(Conversation.id)).first()
        assert conversation is not None
        s.add(Prototype(movie_id=tail.id, conversation_id=conversation.id, tier="tail", score=1.0, weights={}))
        s.commit()
    results = run_twice(database_url, "augment", "generate", "--dataset", "toy", "--generator", "baseline-template",
                        "--json", env={"AUGMENT_TAIL_DIALOGUES": "[300, 300]"})
    summaries = [json.loads(r.stdout) for r in results]
    with session_factory() as s:
        stored = s.scalar(select(func.count()).select_from(Candidate))
        distinct = s.execute(select(Candidate.prototype_id, Candidate.generator, Candidate.sample_index)
                             .distinct()).all()
    assert stored == len(distinct) == 300
    assert sum(summary["created"] for summary in summaries) == 300


def test_two_prototype_selections_at_once_give_each_movie_one_prototype(database_url: str,
                                                                       session_factory: sessionmaker[Session]) -> None:
    """Two `augment prototypes --cold-start` processes: each plans with no write open, then saves under the
    dataset's prototype lock, reading again what is there; every body, tail and cold-start movie ends with exactly
    one prototype and one full support set, and the two summaries add up to one run's."""
    from db.models import Dataset, Movie, Prototype, SupportExample
    from tests.augment.conftest import build_longtail_corpus
    from tests.factories import make_movie

    with session_factory() as s:
        build_longtail_corpus(s)
        toy = s.scalars(select(Dataset).where(Dataset.name == "toy")).one()
        make_movie(s, toy, "cold", "Never Mentioned (2020)", meta={"genre": ["horror"], "plot": "A ghost waits."})
        s.commit()
    results = run_twice(database_url, "augment", "prototypes", "--dataset", "toy", "--cold-start", "--json")
    summaries = [json.loads(r.stdout) for r in results]
    with session_factory() as s:
        per_movie = dict(s.execute(select(Movie.external_id, func.count(Prototype.id))
                                   .join(Prototype, Prototype.movie_id == Movie.id).group_by(Movie.external_id)).all())
        supports = s.execute(select(SupportExample.prototype_id, func.count()).group_by(SupportExample.prototype_id)).all()
    assert per_movie == {"b": 1, "t": 1, "cold": 1}
    assert len(supports) == 3 and len({n for _, n in supports}) == 1
    assert sum(x["created"] for x in summaries) == 2 and sum(x["cold_start"] for x in summaries) == 1


def test_two_relevance_labellings_at_once_label_each_turn_once(database_url: str,
                                                              session_factory: sessionmaker[Session]) -> None:
    """Two `augment multilabel --scorer local-kg` processes over the same turns: a turn the other stored first is
    skipped (read again inside the write, or caught by the unique constraint in its savepoint), never a crash or a
    second copy; the two summaries' labelled turns add up to one run's."""
    from db.models import RelevanceLabel
    from tests.augment.conftest import build_longtail_corpus

    with session_factory() as s:
        build_longtail_corpus(s)
    results = run_twice(database_url, "augment", "multilabel", "--dataset", "toy", "--scorer", "local-kg", "--json")
    summaries = [json.loads(r.stdout) for r in results]
    with session_factory() as s:
        labels = s.scalar(select(func.count()).select_from(RelevanceLabel))
        keys = s.execute(select(RelevanceLabel.conversation_id, RelevanceLabel.turn_position,
                                RelevanceLabel.movie_id)).all()
        turns = {(c, t) for c, t, _ in keys}
    assert labels == len(set(keys)) > 0
    assert sum(x["labelled"] for x in summaries) == len(turns) == max(x["turns"] for x in summaries)
