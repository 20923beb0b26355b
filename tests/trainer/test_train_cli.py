from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from db.models import RunMetric, TrainingRun
from db.types import Dialogue, ExportRecord, Turn
from lumicrs_cli import app
from tests.factories import make_conversation, make_dataset, make_movie
from trainer.config import load_config
from trainer.data import ItemCatalog, read_export, samples_from_dialogue

runner = CliRunner()


def build_toy_corpus(session: Session) -> None:
    """10 dialogues over 6 movies: 'm0' is head, 'm5' tail."""
    ds = make_dataset(session, "toy")
    movies = [make_movie(session, ds, f"m{i}", f"Film {i} (200{i})", meta={"genre": ["drama"], "plot": f"plot {i}"})
              for i in range(6)]
    for c in range(10):
        target = movies[0] if c < 6 else movies[1 + c % 5]
        make_conversation(session, ds, f"c{c}", [
            ("seeker", f"I liked {movies[(c + 2) % 6].title}", [movies[(c + 2) % 6]]),
            ("recommender", f"Try {target.title}", [target]),
            ("seeker", "thanks", []),
        ], split="test" if c % 4 == 3 else "train")
    session.commit()


def test_samples_by_hand() -> None:
    catalog = ItemCatalog([10, 11, 12], ["A", "B", "C"], ["A", "B", "C"], ["head", "body", "tail"])
    dialogue = Dialogue(conversation_id=7, external_id="x", dataset="toy", split="train", turns=(
        Turn(role="recommender", text="hi", movie_ids=(10,)),        # no history yet: no sample
        Turn(role="seeker", text="I like A", movie_ids=(10,)),
        Turn(role="recommender", text="B or C?", movie_ids=(11, 12, 99)),
    ))
    samples = samples_from_dialogue(dialogue, catalog, max_turns=8)
    assert [(s.target, s.context_items) for s in samples] == [(1, (0,)), (2, (0,))]
    assert samples[0].context == "Seeker: I like A\nRecommender: hi"


def test_export_records_become_augmented_dialogues(tmp_path: Path) -> None:
    record = ExportRecord(candidate_id=3, dataset="toy", target_movie_id=5, target_title="T", tier="tail",
                          turns=(Turn(role="seeker", text="x"),), prototype_conversation_id=1, generator="g",
                          pass_votes=5, decision="auto_accepted")
    path = tmp_path / "export.jsonl"

    def write(text: str, manifest_of: str | None = None) -> None:
        path.write_text(text)
        digest = hashlib.sha256((manifest_of if manifest_of is not None else text).encode()).hexdigest()
        (tmp_path / "manifest.json").write_text(json.dumps({"sha256": digest, "rows": text.count("\n")}))

    write(record.model_dump_json() + "\n" + "{broken\n")
    with pytest.raises(ValueError, match="export.jsonl:2"):
        read_export(path)
    write(record.model_dump_json() + "\n")
    assert read_export(path)[0].origin == "augmented"
    write(record.model_dump_json() + "\n", manifest_of="what was exported\n")  # tampered after export
    with pytest.raises(ValueError, match="does not match its manifest"):
        read_export(path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ValueError, match="no manifest.json"):
        read_export(path)


def test_config_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nloss: hinge\n")
    with pytest.raises(ValueError, match=r"bad.yaml: loss"):
        load_config(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(bad)


@pytest.mark.slow
def test_train_one_epoch_then_evaluate(database_url: str, session_factory: sessionmaker[Session],
                                       tmp_path: Path) -> None:
    with session_factory() as session:
        build_toy_corpus(session)
    config = tmp_path / "toy.yaml"
    config.write_text(f"name: toy-acfl\ndataset: toy\nepochs: 1\nbatch_size: 4\nn_prototypes: 2\n"
                      f"valid_fraction: 0.2\noutput_dir: {tmp_path / 'runs'}\n")
    result = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["device"] in ("cpu", "cuda")
    assert 0.0 <= payload["metrics"]["test"]["recall@10"] <= 1.0
    assert Path(payload["checkpoint"]).exists()
    with session_factory() as session:
        run = session.scalar(select(TrainingRun).where(TrainingRun.name == "toy-acfl"))
        assert run is not None and run.status == "finished"
        stored = {m.name: m.value for m in session.scalars(select(RunMetric).where(RunMetric.split == "test"))}
    # 6 items, so every item is in the top 10: recall@10 = 1 and recall@50 = 1
    assert stored["recall@10"] == pytest.approx(1.0) and stored["catalog_size"] == 6
    assert ("tail_recall@10" in stored) == (stored["rows_tail"] > 0)  # an empty subset is undefined, not 0
    assert stored["recall@10_lo"] <= stored["recall@10"] <= stored["recall@10_hi"]
    assert stored["novel_rows"] <= stored["rows"]
    again = runner.invoke(app, ["evaluate", "toy-acfl", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["recall@1"] == pytest.approx(stored["recall@1"])
    listed = runner.invoke(app, ["runs", "--json"])
    assert json.loads(listed.stdout)[0]["name"] == "toy-acfl"


def test_evaluate_unknown_run_exits_3(database_url: str) -> None:
    result = runner.invoke(app, ["evaluate", "nope"])
    assert result.exit_code == 3 and "no training run 'nope'" in result.output


@pytest.mark.slow
def test_finetuned_encoder_trains_and_reloads(database_url: str, session_factory: sessionmaker[Session],
                                              tmp_path: Path) -> None:
    """MiniLM tuned with the recommender: the head's epochs are a frozen run's own (same seed, same numbers), the
    encoder's epoch follows, and since the toy's 6 movies make validation R@10 1.0 whatever happens, tuning cannot
    win and the saved model is the frozen head with the encoder as shipped; it reloads and evaluates."""
    import torch

    from lm.embeddings import load_sentence_encoder

    with session_factory() as session:
        build_toy_corpus(session)
    common = f"dataset: toy\nepochs: 2\nbatch_size: 4\nn_prototypes: 2\nvalid_fraction: 0.2\noutput_dir: {tmp_path}\n"
    (tmp_path / "frozen.yaml").write_text(f"name: toy-frozen\n{common}")
    (tmp_path / "ft.yaml").write_text(f"name: toy-ft\n{common}finetune_encoder: true\nfinetune_epochs: 1\n"
                                      f"encoder_lr: 0.001\n")
    frozen_run = runner.invoke(app, ["train", "--config", str(tmp_path / "frozen.yaml"), "--json", "--quiet"])
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "ft.yaml"), "--json"])  # progress: stderr
    assert frozen_run.exit_code == 0 and result.exit_code == 0, frozen_run.output + result.output
    payload = json.loads(result.stdout)
    timing = ("seconds", "samples_per_second", "encoder_tuned")
    head = [{k: v for k, v in h.items() if k not in timing} for h in payload["history"] if not h["encoder_tuned"]]
    assert head == [{k: v for k, v in h.items() if k not in timing} for h in json.loads(frozen_run.stdout)["history"]]
    assert [h["encoder_tuned"] for h in payload["history"]][-1] == 1.0  # the encoder's epoch ran
    state = torch.load(payload["checkpoint"])
    tuned = {k: v for k, v in state.items() if k.startswith("text_encoder.")}
    assert tuned, "the encoder weights are part of the checkpoint"
    assert not bool(state["live_text"])  # tuning did not win on validation: the frozen head is the result
    shipped = load_sentence_encoder().state_dict()
    assert all(torch.equal(v, shipped[k.removeprefix("text_encoder.model.")]) for k, v in tuned.items())
    again = runner.invoke(app, ["evaluate", "toy-ft", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["recall@10"] == payload["metrics"]["test"]["recall@10"]
    # same seed, same numbers: the tuned epoch (its loss) and the test metrics repeat exactly
    (tmp_path / "ft2.yaml").write_text((tmp_path / "ft.yaml").read_text().replace("toy-ft", "toy-ft-again"))
    repeat = runner.invoke(app, ["train", "--config", str(tmp_path / "ft2.yaml"), "--json", "--quiet"])
    assert repeat.exit_code == 0, repeat.output
    second = json.loads(repeat.stdout)
    assert [{k: v for k, v in h.items() if k not in timing} for h in second["history"]] == [
        {k: v for k, v in h.items() if k not in timing} for h in payload["history"]]
    assert second["metrics"]["test"] == payload["metrics"]["test"]


def test_evaluate_responses_against_human_turns(database_url: str, session_factory: sessionmaker[Session],
                                                tmp_path: Path) -> None:
    with session_factory() as session:
        build_toy_corpus(session)
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(json.dumps({"conversation": f"c{i}", "turn_position": 1, "system": "echo",
                                          "text": text}) for i, text in [(0, "Try Film 0 (2000)"), (1, "no idea")]))
    imported = runner.invoke(app, ["annotate", "import-responses", str(path), "--dataset", "toy", "--json"])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(app, ["evaluate-responses", "--system", "echo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["responses"] == 2 and 0.0 < report["rouge-l"] < 1.0 and report["distinct-2"] == 1.0
    other = tmp_path / "other.jsonl"  # names another movie than the human did: only the title differs
    other.write_text(json.dumps({"conversation": "c0", "turn_position": 1, "system": "other", "text": "Try Film 5 (2005)"}))
    assert runner.invoke(app, ["annotate", "import-responses", str(other), "--dataset", "toy"]).exit_code == 0
    plain = json.loads(runner.invoke(app, ["evaluate-responses", "--system", "other", "--json"]).stdout)
    masked = json.loads(runner.invoke(app, ["evaluate-responses", "--system", "other", "--unicrs", "--json"]).stdout)
    assert plain["rouge-l"] < 1.0 and masked["rouge-l"] == 1.0  # both titles are <movie> under UniCRS's processing
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conversation": "c0", "turn_position": 1, "system": "x", "text": "ok"}\n{"conversation": "zz"}\n')
    failed = runner.invoke(app, ["annotate", "import-responses", str(bad), "--dataset", "toy"])
    assert failed.exit_code == 2 and "bad.jsonl:2:" in failed.output
    assert runner.invoke(app, ["evaluate-responses", "--system", "x"]).exit_code == 2  # nothing half-written


def test_stale_running_run_needs_force(database_url: str, session_factory: sessionmaker[Session],
                                       tmp_path: Path) -> None:
    from db.queries.runs import create_run

    with session_factory() as session:
        build_toy_corpus(session)
    with session_factory.begin() as session:
        create_run(session, "toy-pop", "popularity", {}, "cpu")  # a process that died while training
    config = tmp_path / "pop.yaml"
    config.write_text(f"name: toy-pop\ndataset: toy\nmodel: popularity\noutput_dir: {tmp_path}\n")
    blocked = runner.invoke(app, ["train", "--config", str(config)])
    assert blocked.exit_code == 4 and "--force" in blocked.output
    forced = runner.invoke(app, ["train", "--config", str(config), "--force", "--json", "--quiet"])
    assert forced.exit_code == 0, forced.output
    with session_factory() as session:
        assert session.scalars(select(TrainingRun)).one().status == "finished"


def test_finished_run_of_another_config_is_kept_unless_replace(database_url: str,
                                                               session_factory: sessionmaker[Session],
                                                               tmp_path: Path) -> None:
    """Retraining a config replaces its own run; a different config under the same name would silently destroy
    another experiment's metrics and checkpoint, so it is refused (naming the settings) until --replace."""
    with session_factory() as session:
        build_toy_corpus(session)
    config = tmp_path / "pop.yaml"

    def train(seed: int, *flags: str) -> tuple[int, str]:
        config.write_text(f"name: toy-pop\ndataset: toy\nmodel: popularity\nseed: {seed}\n"
                          f"output_dir: {tmp_path}\n")
        result = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet", *flags])
        return result.exit_code, result.output

    def stored() -> tuple[int, int, int]:
        with session_factory() as session:
            run = session.scalars(select(TrainingRun)).one()
            return run.id, run.config["seed"], len(session.scalars(select(RunMetric)
                                                                   .where(RunMetric.run_id == run.id)).all())

    assert train(1)[0] == 0
    first = stored()
    assert train(1)[0] == 0 and stored()[1:] == first[1:]  # the same config: retrained in place
    kept = stored()
    code, output = train(2)
    assert code == 4 and "differs in: seed" in output and "--replace" in output, output
    assert stored() == kept  # the earlier run, its config and its metrics untouched
    assert train(2, "--replace")[0] == 0 and stored()[1] == 2
    with session_factory.begin() as session:
        session.scalars(select(TrainingRun)).one().status = "failed"
    assert train(3)[0] == 0 and stored()[1] == 3  # a failed run holds nothing worth keeping


def test_config_differences_name_nested_and_missing_settings() -> None:
    from db.queries.runs import config_differences
    old = {"name": "a", "seed": 1, "acfl": {"mask": "hardest", "eps": 1e-6}, "kg": False}
    new = {"name": "a", "seed": 1, "acfl": {"mask": "printed", "eps": 1e-6}, "kg": False, "repeat_gate": False}
    assert config_differences(old, new) == ["acfl.mask", "repeat_gate"]
    assert config_differences(new, new) == []
    assert config_differences({"acfl": {"mask": "x"}}, {"acfl": None}) == ["acfl"]


@pytest.mark.parametrize("earlier", [None, "finished"])
def test_two_trainings_starting_one_run_name_leave_one_run(session_factory: sessionmaker[Session],
                                                            earlier: str | None) -> None:
    """Two trainings of one name started together (on a new name, or over a finished run of their config): one run
    row of that name afterwards, one starter told why in a Conflict, never a database error."""
    import time

    from db.engine import write_transaction
    from db.errors import Conflict
    from db.queries.runs import create_run
    from tests.factories import race

    config = {"name": "toy-pop", "seed": 1}
    if earlier:
        with session_factory.begin() as session:
            create_run(session, "toy-pop", "popularity", config, "cpu").status = earlier

    def start(i: int) -> int:
        with write_transaction(session_factory) as session:
            run_id = create_run(session, "toy-pop", "popularity", config, f"cpu {i}").id
            time.sleep(0.3)  # the other starter reaches the same row meanwhile
            return run_id

    outcomes = race(2, start)
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(conflicts) == 1 and sum(isinstance(o, int) for o in outcomes) == 1, outcomes
    assert "toy-pop" in str(conflicts[0])
    with session_factory() as session:
        runs = session.scalars(select(TrainingRun)).all()
        assert [(r.name, r.status) for r in runs] == [("toy-pop", "running")]
        assert runs[0].id in outcomes

@pytest.mark.parametrize(("command", "config", "target"), [
    ("train-responder", "redial_conversation.yaml", "trainer.conversation_run.train_responder"),
    ("train-writer", "redial_writer.yaml", "augment.writer_train.train_writer")])
def test_replace_reaches_the_responder_and_writer_runs(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                       command: str, config: str, target: str) -> None:
    """--replace (and --force) on the two LoRA trainers get to the function that calls create_run (the guard itself
    is exercised end to end by `train` above); stopped there, before any model loads."""
    import importlib
    module, name = target.rsplit(".", 1)
    seen: list[dict[str, object]] = []

    def stop(*args: object, **kwargs: object) -> None:
        seen.append(kwargs)
        raise ValueError("stopped before training")

    monkeypatch.setattr(importlib.import_module(module), name, stop)
    path = str(Path(__file__).resolve().parents[2] / "configs" / config)
    for flags, expected in (([], (False, False)), (["--replace"], (True, False)), (["--force"], (False, True))):
        result = runner.invoke(app, [command, "--config", path, "--quiet", *flags])
        assert result.exit_code == 2 and "stopped before training" in result.output, result.output
        assert (seen[-1]["replace"], seen[-1]["force"]) == expected


@pytest.mark.slow
def test_exported_augmentation_feeds_a_run_with_lineage(database_url: str, session_factory: sessionmaker[Session],
                                                        tmp_path: Path) -> None:
    """Approved candidates -> the real export path -> training; the run records which export fed it."""
    from annotator.export import export_approved
    from db.models import Candidate, Conversation, Movie, Prototype, RunExport
    from db.queries.review import get_or_create_reviewer

    with session_factory() as session:
        build_toy_corpus(session)
        movie = session.scalar(select(Movie).where(Movie.external_id == "m5"))
        conv = session.scalar(select(Conversation).where(Conversation.external_id == "c0"))
        assert movie is not None and conv is not None
        proto = Prototype(movie_id=movie.id, conversation_id=conv.id, tier="tail", score=0.5, weights={})
        session.add(proto)
        session.flush()
        session.add_all(Candidate(prototype_id=proto.id, movie_id=movie.id, tier="tail", generator="baseline-template",
                                  sample_index=i, prompt_hash="0" * 64, params={}, status="auto_accepted", pass_votes=5,
                                  turns=[{"role": "seeker", "text": f"a sad film please #{i}"},
                                         {"role": "recommender", "text": f"{movie.title} is lovely"}])
                        for i in range(3))
        lead = get_or_create_reviewer(session, "boss", "lead")
        export = export_approved(session, "toy", "toy-aug", lead, tmp_path / "exports")
        session.commit()
        export_id, export_path = export.id, export.path
    config = tmp_path / "aug.yaml"
    config.write_text(f"name: toy-aug-run\ndataset: toy\nepochs: 1\nbatch_size: 4\nn_prototypes: 2\n"
                      f"valid_fraction: 0.2\noutput_dir: {tmp_path / 'runs'}\naugmented_exports: [{export_path}]\n")
    result = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        links = list(session.scalars(select(RunExport)))
        assert [(link.export_id, link.rows) for link in links] == [(export_id, 3)]
    Path(export_path).write_text(Path(export_path).read_text().replace("lovely", "awful"))  # tampered
    config.write_text(config.read_text().replace("toy-aug-run", "toy-aug-run-2"))
    refused = runner.invoke(app, ["train", "--config", str(config), "--json", "--quiet"])
    assert refused.exit_code == 2 and "does not match its manifest" in refused.output
