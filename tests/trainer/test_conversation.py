"""The conversation module end to end on a tiny corpus and a tiny offline LM (both backends): fine-tuning lowers the
loss, responses reach the responses table, `evaluate-responses` and the Rate page; oracle and predicted items."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from db.models import Response, ReviewTask, RunMetric, TrainingRun
from db.types import Dialogue, MovieInfo, Turn
from lumicrs_cli import app
from tests.factories import make_conversation, make_dataset, make_movie
from tests.trainer.tiny_lm import build_tiny_lm
from trainer.conversation_data import render_prompt, samples_from_dialogue, slot_movie

runner = CliRunner()
PROMPT_WORDS = "Recommended movie : none . Seeker Recommender"


def build_chat_corpus(session: Session) -> list[str]:
    """12 dialogues (9 train, 3 test) over 4 movies; returns every text the tiny tokenizer must know."""
    ds = make_dataset(session, "toy")
    movies = [make_movie(session, ds, f"m{i}", f"Film{i}", meta={"genre": ["drama"], "plot": f"a story about {w}"})
              for i, w in enumerate(["dogs", "ships", "ghosts", "kings"])]
    texts = [PROMPT_WORDS]
    for c in range(12):
        movie = movies[0] if c % 3 else movies[1 + c % 3]
        turns = [("seeker", "hi , any good movie for tonight ?", []),
                 ("recommender", f"you should watch {movie.title} , it is great", [movie]),
                 ("seeker", "thanks a lot", []),
                 ("recommender", "enjoy it !", [])]
        make_conversation(session, ds, f"c{c}", turns, split="test" if c >= 9 else "train")
        texts += [t for _, t, _ in turns]
    session.commit()
    return texts + [f"{m.title} a story about {m.meta['plot']}" for m in movies]


def write_config(tmp_path: Path, model: Path, steps: int) -> Path:
    config = tmp_path / f"conv{steps}.yaml"
    config.write_text(f"name: toy-conv-{steps}\ndataset: toy\nbase_model: {model}\nsteps: {steps}\nbatch_size: 4\n"
                      f"lr: 0.01\nvalid_fraction: 0.25\nmax_new_tokens: 8\ndevice: cpu\noutput_dir: {tmp_path / 'runs'}\n")
    return config


def test_samples_prompts_and_slotting_by_hand() -> None:
    dialogue = Dialogue(conversation_id=7, external_id="x", dataset="toy", split="test", turns=(
        Turn(role="recommender", text="hello"),                       # a dialogue's first turn: no sample
        Turn(role="seeker", text="something scary"),
        Turn(role="recommender", text="Try Alien", movie_ids=(5, 6)),
        Turn(role="recommender", text="or Jaws"),                      # same merged turn as the one before
        Turn(role="seeker", text="ok"),
        Turn(role="recommender", text="bye"),
    ))
    samples = samples_from_dialogue(dialogue, max_turns=2)
    assert [(s.position, s.merged_index, s.oracle_movie) for s in samples] == [(2, 2, 5), (3, 2, None), (5, 4, None)]
    assert samples[0].context == (("recommender", "hello"), ("seeker", "something scary"))
    assert samples[2].context == (("recommender", "or Jaws"), ("seeker", "ok"))
    movie = MovieInfo(id=5, external_id="5", title="Alien (1979)", plot="In space no one can hear you scream.")
    assert render_prompt(samples[0], movie, plot_words=3) == (
        "Recommended movie: Alien (1979). In space no\nRecommender: hello\nSeeker: something scary\nRecommender:")
    assert render_prompt(samples[0], None, plot_words=3, keep_turns=1) == (
        "Recommended movie: none\nSeeker: something scary\nRecommender:")
    assert slot_movie("Try Alien or Alien", ["Alien"], "Heat") == "Try Heat or Heat"
    assert slot_movie("Try Alien", ["Alien"], None) == "Try Alien"


def test_fine_tuning_lowers_the_loss_and_responses_reach_evaluation_and_rating(
        database_url: str, session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    with session_factory() as session:
        model = build_tiny_lm(tmp_path / "tiny", build_chat_corpus(session))
    trained = runner.invoke(app, ["train-responder", "--config", str(write_config(tmp_path, model, 40)), "--json",
                                  "--quiet"])
    assert trained.exit_code == 0, trained.output
    metrics = json.loads(trained.stdout)["metrics"]
    assert metrics["steps"] == 40 and metrics["trainable_parameters"] > 0
    assert metrics["train_loss_last"] < 0.5 * metrics["train_loss_first"]
    assert metrics["valid_loss_after"] < 0.5 * metrics["valid_loss_before"]
    with session_factory() as session:
        run = session.scalars(select(TrainingRun)).one()
        assert (run.name, run.model, run.status) == ("toy-conv-40", "responder", "finished")
        stored = {m.name for m in session.scalars(select(RunMetric).where(RunMetric.run_id == run.id))}
        assert {"train_loss_first", "train_loss_last", "valid_loss_before", "valid_loss_after"} <= stored

    wrote = runner.invoke(app, ["generate-responses", "toy-conv-40", "--dataset", "toy", "--item", "oracle", "--json",
                                "--quiet", "--overlap", "2"])
    assert wrote.exit_code == 0, wrote.output
    summary = json.loads(wrote.stdout)
    assert (summary["system"], summary["turns"], summary["written"]) == ("toy-conv-40:oracle", 6, 6)
    assert summary["engine"] == "transformers"  # auto: llama.cpp runs adapters of the packaged GGUF only
    with session_factory() as session:
        responses = list(session.scalars(select(Response).order_by(Response.id)))
        assert len(responses) == 6 and {r.turn_position for r in responses} == {1, 3}
        assert all(r.system == "toy-conv-40:oracle" and r.text.strip() for r in responses)
        # the fine-tuned model recommends the oracle movie in a recommending turn
        recommending = [r.text for r in responses if r.turn_position == 1]
        assert sum("Film" in text for text in recommending) >= 2, recommending
        tasks = session.scalar(select(func.count()).select_from(ReviewTask).where(ReviewTask.kind == "rating",
                                                                                  ReviewTask.overlap == 2))
        assert tasks == 6
    again = runner.invoke(app, ["generate-responses", "toy-conv-40", "--dataset", "toy", "--item", "oracle", "--json",
                                "--quiet"])
    assert json.loads(again.stdout)["written"] == 0 and json.loads(again.stdout)["already_answered"] == 6

    evaluated = runner.invoke(app, ["evaluate-responses", "--system", "toy-conv-40:oracle", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["responses"] == 6

    from tests.app.test_pages import open_page
    page = open_page("rate", "rita", "researcher")
    assert any("system toy-conv-40:oracle" in c.value for c in page.caption)


def test_the_base_model_run_and_its_mistakes(database_url: str, session_factory: sessionmaker[Session],
                                             tmp_path: Path) -> None:
    with session_factory() as session:
        model = build_tiny_lm(tmp_path / "tiny", build_chat_corpus(session))
    base = runner.invoke(app, ["train-responder", "--config", str(write_config(tmp_path, model, 0)), "--json",
                               "--quiet"])
    assert base.exit_code == 0, base.output
    assert json.loads(base.stdout)["metrics"]["steps"] == 0
    assert not (tmp_path / "runs" / "toy-conv-0" / "adapter").exists()
    unheld = tmp_path / "unheld.yaml"  # nothing held out: the run has no held-out loss (it stored NaN, NOT NULL broke)
    unheld.write_text(write_config(tmp_path, model, 0).read_text().replace("toy-conv-0", "toy-unheld")
                      .replace("valid_fraction: 0.25", "valid_fraction: 0.0"))
    no_valid = runner.invoke(app, ["train-responder", "--config", str(unheld), "--json", "--quiet"])
    assert no_valid.exit_code == 0, no_valid.output
    assert "valid_loss_before" not in json.loads(no_valid.stdout)["metrics"]
    small = tmp_path / "small.yaml"  # 5% of 9 train conversations rounds to none: one is held out all the same
    small.write_text(write_config(tmp_path, model, 0).read_text().replace("toy-conv-0", "toy-small")
                     .replace("valid_fraction: 0.25", "valid_fraction: 0.05"))
    held_one = runner.invoke(app, ["train-responder", "--config", str(small), "--json", "--quiet"])
    assert held_one.exit_code == 0, held_one.output
    held_metrics = json.loads(held_one.stdout)["metrics"]
    assert held_metrics["valid_rows"] > 0 and "valid_loss_before" in held_metrics
    limited = runner.invoke(app, ["generate-responses", "toy-conv-0", "--dataset", "toy", "--item", "oracle",
                                  "--limit", "2", "--system", "base", "--json", "--quiet"])
    assert limited.exit_code == 0, limited.output
    assert json.loads(limited.stdout)["written"] == 2
    no_recommender = runner.invoke(app, ["generate-responses", "toy-conv-0", "--dataset", "toy"])
    assert no_recommender.exit_code == 2 and "--recommender" in no_recommender.output
    bad_item = runner.invoke(app, ["generate-responses", "toy-conv-0", "--dataset", "toy", "--item", "gold"])
    assert bad_item.exit_code == 2 and "--item" in bad_item.output
    for engine, error in (("llama.cpp", "packaged GGUF only"), ("vllm", "engine must be one of auto, llama.cpp")):
        refused_engine = runner.invoke(app, ["generate-responses", "toy-conv-0", "--dataset", "toy", "--item",
                                             "oracle", "--system", "other", "--engine", engine])
        assert refused_engine.exit_code == 2 and error in refused_engine.output, refused_engine.output
    unknown = runner.invoke(app, ["generate-responses", "nope", "--dataset", "toy", "--item", "oracle"])
    assert unknown.exit_code == 3 and "no training run 'nope'" in unknown.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"name: x\ndataset: toy\nbase_model: {tmp_path}\nsteps: -1\n")
    refused = runner.invoke(app, ["train-responder", "--config", str(broken)])
    assert refused.exit_code == 2 and "broken.yaml: steps" in refused.output


@pytest.mark.slow
def test_predicted_items_and_the_retrieval_baseline(database_url: str, session_factory: sessionmaker[Session],
                                                    tmp_path: Path) -> None:
    with session_factory() as session:
        model = build_tiny_lm(tmp_path / "tiny", build_chat_corpus(session))
    pop = tmp_path / "pop.yaml"
    pop.write_text(f"name: toy-pop\ndataset: toy\nmodel: popularity\noutput_dir: {tmp_path / 'runs'}\n")
    assert runner.invoke(app, ["train", "--config", str(pop), "--quiet"]).exit_code == 0
    assert runner.invoke(app, ["train-responder", "--config", str(write_config(tmp_path, model, 2)),
                               "--quiet"]).exit_code == 0
    from trainer.conversation_run import turns_to_answer
    turns = turns_to_answer(session_factory, "toy", "test", "predicted", "toy-pop", None, 0, 4)
    # popularity ranks the most mentioned train movie (Film0) first for every recommending turn
    assert [m.title if m else None for m in turns.movies] == ["Film0", None] * 3
    predicted = runner.invoke(app, ["generate-responses", "toy-conv-2", "--dataset", "toy", "--recommender", "toy-pop",
                                    "--json", "--quiet"])
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["system"] == "toy-conv-2:predicted"
    assert json.loads(predicted.stdout)["written"] == 6
    retrieved = runner.invoke(app, ["generate-responses", "retrieval", "--dataset", "toy", "--item", "oracle",
                                    "--json", "--quiet"])
    assert retrieved.exit_code == 0, retrieved.output
    with session_factory() as session:
        texts = {r.turn_position: r.text for r in session.scalars(select(Response).where(
            Response.system == "retrieval:oracle", Response.conversation_id == 10))}
    # test dialogue c9 recommends Film1: a training recommendation turn with its title replaced
    assert texts == {1: "you should watch Film1 , it is great", 3: "enjoy it !"}
    mixed_up = runner.invoke(app, ["generate-responses", "toy-pop", "--dataset", "toy", "--item", "oracle"])
    assert mixed_up.exit_code == 2 and "is a recommender" in mixed_up.output


def test_the_response_loss_is_the_models_own_loss_on_response_tokens(tmp_path: Path) -> None:
    import torch

    from lm.language_model import collate, load_language_model, target_loss
    from trainer.config import ResponderConfig
    from trainer.conversation_data import ResponseSample
    from trainer.responder import encode_example

    model = build_tiny_lm(tmp_path / "tiny", ["hi there , try Film1 please", PROMPT_WORDS])
    lm = load_language_model(str(model), torch.device("cpu"))
    cfg = ResponderConfig(name="x", base_model=str(model))
    samples = [ResponseSample(1, 1, 1, (("seeker", "hi there"),), "try Film1 please", ()),
               ResponseSample(1, 3, 3, (("seeker", "hi there , hi there , hi"),), "try", ())]
    batch = collate([encode_example(lm, s, None, cfg) for s in samples], lm.tokenizer.pad_token_id, torch.device("cpu"))
    assert batch["attention_mask"][1].tolist()[0] == 0 or batch["attention_mask"][0].tolist()[0] == 0  # left-padded
    full = lm.model(**batch).loss
    assert target_loss(lm, batch).item() == pytest.approx(full.item(), rel=1e-5)


def test_responses_and_references_are_compared_with_titles_in_place_of_ids(session: Session) -> None:
    from db.queries.responses import add_response, response_pairs, response_rows

    ds = make_dataset(session, "toy")
    make_movie(session, ds, "111", "Heat (1995)")
    conv = make_conversation(session, ds, "c1", [("seeker", "a heist film?", []), ("recommender", "try @111", [])])
    add_response(session, conv.id, 1, "sys", "try Heat (1995) or @111", overlap=1)
    assert response_rows(session, "sys") == [(conv.id, "try Heat (1995) or Heat (1995)", "try Heat (1995)")]
    assert response_pairs(session, "sys") == [("try Heat (1995) or Heat (1995)", "try Heat (1995)")]


@pytest.mark.slow
def test_the_packaged_models_responses_on_llama_cpp(database_url: str, session_factory: sessionmaker[Session],
                                                    tmp_path: Path) -> None:
    from lm.llama_engine import llama_cpp_installed
    if not llama_cpp_installed():
        pytest.skip("the local engine is not installed (bash scripts/setup_llm.sh)")
    with session_factory() as session:
        build_chat_corpus(session)
    config = tmp_path / "packaged.yaml"
    config.write_text(f"name: packaged-0\ndataset: toy\nsteps: 0\nmax_new_tokens: 12\ndevice: cpu\n"
                      f"output_dir: {tmp_path / 'runs'}\n")
    assert runner.invoke(app, ["train-responder", "--config", str(config), "--quiet"]).exit_code == 0
    for engine, system in (("llama.cpp", "cpp"), ("auto", "auto")):
        wrote = runner.invoke(app, ["generate-responses", "packaged-0", "--dataset", "toy", "--item", "oracle",
                                    "--limit", "2", "--system", system, "--engine", engine, "--json", "--quiet"])
        assert wrote.exit_code == 0, wrote.output
        summary = json.loads(wrote.stdout)
        assert (summary["engine"], summary["written"]) == ("llama.cpp", 2)
    with session_factory() as session:
        texts = {r.system: [] for r in session.scalars(select(Response))}
        for r in session.scalars(select(Response).order_by(Response.id)):
            texts[r.system].append(r.text)
    assert texts["cpp"] == texts["auto"]  # greedy: the same turns give the same text
    assert all("\n" not in t for t in texts["cpp"])


def test_the_responder_settings_are_the_named_departure_from_sec_5_4() -> None:
    """LumiCRS Sec. 5.4 fine-tunes DialoGPT (lr 5e-5, 20 epochs, batch 12) and Llama2-chat with QLoRA (rank 64, alpha
    16, dropout 0.05, lr 1e-4, 20 epochs, batch 10) on GPUs. Ours, on 2 CPU cores: the packaged Gemma 3 270M with
    LoRA rank 8, alpha 16, dropout 0.05, lr 2e-4, 200 steps of 4 (docs/fidelity.md names the departure)."""
    from trainer.config import ResponderConfig

    cfg = ResponderConfig(name="x")
    assert (cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout) == (8, 16, 0.05)
    assert (cfg.lr, cfg.steps, cfg.batch_size, cfg.base_model) == (2e-4, 200, 4, None)
