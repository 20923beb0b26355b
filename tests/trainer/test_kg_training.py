"""The knowledge graph and the prototype switches through the real `lumicrs train` path (toy corpus, MiniLM)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from db.models import KGFact, Movie
from lumicrs_cli import app
from tests.trainer.test_train_cli import build_toy_corpus

runner = CliRunner()
pytestmark = pytest.mark.slow


def train(tmp_path: Path, name: str, extra: str) -> dict[str, torch.Tensor]:
    config = tmp_path / f"{name}.yaml"
    config.write_text(f"name: {name}\ndataset: toy\nbatch_size: 4\nn_prototypes: 2\nvalid_fraction: 0.2\n"
                      f"patience: 9\noutput_dir: {tmp_path / 'runs'}\n{extra}")
    result = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return torch.load(json.loads(result.stdout)["checkpoint"])  # type: ignore[no-any-return]


def test_kg_and_prototype_switches_train_end_to_end(database_url: str, session_factory: sessionmaker[Session],
                                                     tmp_path: Path) -> None:
    with session_factory() as session:
        build_toy_corpus(session)
    (tmp_path / "nokg.yaml").write_text("name: nokg\ndataset: toy\nkg: true\nepochs: 1\n")
    missing = runner.invoke(app, ["train", "--config", str(tmp_path / "nokg.yaml")])
    assert missing.exit_code == 2 and "no kg_facts for 'toy'" in missing.output
    with session_factory() as session:
        for movie in session.scalars(select(Movie)):
            session.add(KGFact(movie_id=movie.id, relation="genre", entity="drama", entity_type="genre"))
            session.add(KGFact(movie_id=movie.id, relation="star", entity=f"Star {movie.id % 2}", entity_type="person"))
        session.commit()
    with_kg = train(tmp_path, "kg", "kg: true\nkg_dim: 8\nepochs: 1\n")
    assert {"kg.entity_nodes.weight", "kg_proj.weight", "entity_proj.weight"} <= set(with_kg)
    assert with_kg["kg.entity_nodes.weight"].shape[0] == 3
    one, two = (train(tmp_path, f"frozen{e}", f"epochs: {e}\nprototype_init: random\nfreeze_prototypes: true\n")
                for e in (1, 2))
    assert torch.equal(one["prototypes"], two["prototypes"])  # frozen: as initialised, whatever the epochs
    learnable = train(tmp_path, "learnable2", "epochs: 2\nprototype_init: random\n")
    assert not torch.equal(learnable["prototypes"], two["prototypes"])
