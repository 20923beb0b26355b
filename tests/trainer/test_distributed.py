"""torchrun with 2 CPU processes (gloo) stores the same metrics as one process; a killed run resumes exactly."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import KGFact, Movie, RunMetric, TrainingRun
from tests.trainer.test_train_cli import build_toy_corpus

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def config(tmp_path: Path, name: str, **extra: object) -> Path:
    values = {"name": name, "dataset": "toy", "loss": "ce", "dropout": 0.0, "epochs": 4, "batch_size": 4,
              "n_prototypes": 2, "valid_fraction": 0.2, "patience": 10, "bootstrap": 50, "device": "cpu",
              "output_dir": str(tmp_path / "runs"), **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in values.items()) + "\n")
    return path


def lumicrs(database_url: str, *args: str, nproc: int = 1) -> subprocess.Popen[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    env = {**os.environ, "DATABASE_URL": database_url, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([*launcher, str(REPO / "lumicrs_cli.py"), *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return out


def stored(factory: sessionmaker[Session], name: str) -> dict[str, float]:
    with factory() as s:
        run = s.scalars(select(TrainingRun).where(TrainingRun.name == name)).one()
        assert run.status == "finished"
        return {m.name: m.value for m in s.scalars(select(RunMetric).where(RunMetric.run_id == run.id,
                                                                            RunMetric.split == "test"))}


def test_two_processes_store_the_single_process_metrics(database_url: str, tmp_path: Path,
                                                        session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        build_toy_corpus(s)
    finish(lumicrs(database_url, "train", "--config", str(config(tmp_path, "one")), "--quiet"))
    finish(lumicrs(database_url, "train", "--config", str(config(tmp_path, "two")), "--quiet", nproc=2))
    single, double = stored(session_factory, "one"), stored(session_factory, "two")
    assert single.keys() == double.keys() and len(single) > 20
    for name, value in single.items():
        assert double[name] == pytest.approx(value, abs=1e-6), name
    with session_factory() as s:
        devices = dict(s.execute(select(TrainingRun.name, TrainingRun.device)).all())
    assert devices == {"one": "cpu", "two": "cpu x2"}


def test_two_processes_train_a_model_with_the_knowledge_graph(database_url: str, tmp_path: Path,
                                                             session_factory: sessionmaker[Session]) -> None:
    """The KG's adjacency matrices are sparse buffers, which DDP's start-up broadcast cannot send: every config with
    `kg: true` (the shipped ones) failed under torchrun with "No support for sparse tensors" before they were left
    out of it. Each rank builds them from the same facts, so two processes still store one process's metrics."""
    with session_factory() as s:
        build_toy_corpus(s)
        for movie in s.scalars(select(Movie)):
            s.add(KGFact(movie_id=movie.id, relation="genre", entity="drama", entity_type="genre"))
            s.add(KGFact(movie_id=movie.id, relation="star", entity=f"Star {movie.id % 2}", entity_type="person"))
        s.commit()
    kg = {"kg": True, "kg_dim": 8}
    finish(lumicrs(database_url, "train", "--config", str(config(tmp_path, "kg-one", **kg)), "--quiet"))
    finish(lumicrs(database_url, "train", "--config", str(config(tmp_path, "kg-two", **kg)), "--quiet", nproc=2))
    single, double = stored(session_factory, "kg-one"), stored(session_factory, "kg-two")
    assert single.keys() == double.keys() and len(single) > 20
    for name, value in single.items():
        assert double[name] == pytest.approx(value, abs=1e-6), name


def test_a_killed_run_resumes_where_it_stopped(database_url: str, tmp_path: Path,
                                               session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        build_toy_corpus(s)
    epochs = {"epochs": 30, "dropout": 0.2}
    whole_history = json.loads(finish(lumicrs(database_url, "train", "--config", str(config(tmp_path, "whole", **epochs)),
                                              "--json", "--quiet")))["history"]
    cut = config(tmp_path, "cut", **epochs)
    process = lumicrs(database_url, "train", "--config", str(cut), "--quiet")
    checkpoint = tmp_path / "runs" / "cut" / "last.pt"
    deadline = time.time() + 300
    while not checkpoint.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert checkpoint.exists(), "no epoch checkpoint was written before the kill"
    with session_factory() as s:
        assert s.scalars(select(TrainingRun.status).where(TrainingRun.name == "cut")).one() == "running"
    resumed_process = lumicrs(database_url, "train", "--config", str(cut), "--resume", "--json", "--quiet")
    out, err = resumed_process.communicate(timeout=600)
    assert resumed_process.returncode == 0, err[-3000:]
    assert f"resuming from {checkpoint} after epoch " in err  # it went on from the checkpoint, not from scratch
    resumed = json.loads(out)["history"]
    assert [h["epoch"] for h in resumed] == [h["epoch"] for h in whole_history]
    for got, want in zip(resumed, whole_history, strict=True):  # same losses: RNG and optimizer state restored
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-6)
    whole, cut_metrics = stored(session_factory, "whole"), stored(session_factory, "cut")
    for name, value in whole.items():
        assert cut_metrics[name] == pytest.approx(value, abs=1e-6), name
    assert not checkpoint.exists()
