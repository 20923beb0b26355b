from __future__ import annotations

import json

import numpy as np
import pytest

from augment.emotion import EMOTIONS, emotion_vector
from augment.generators import parse_dialogue
from augment.judging import parse_vote
from augment.routing import route_for
from augment.settings import AugmentSettings
from augment.similarity import SimilarityWeights, top_k_neighbours


def test_composite_similarity_as_the_paper_writes_it_by_hand() -> None:
    """Two small dialogues per term: Sim_sem = cos, Sim_emo = 1/(1+L1), Sim_mov = shared count,
    R = Sim_sem * Sim_emo * sigmoid(alpha * Sim_mov), Final = 0.4/0.2/0.2/0.2 weighted sum."""
    import math

    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    emo = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    movies = [{1, 2, 3}, {2, 3}, {9}]
    w = SimilarityWeights(0.4, 0.2, 0.2, 0.2, alpha=0.5)
    idx, scores = top_k_neighbours(emb, emo, movies, w, k=2)
    sem, emo_01, mov = 0.6, 1 / (1 + 1.0), 2           # 0 vs 1: cos 0.6, L1 |0.5-1| + |0.5-0| = 1, shared {2, 3}
    interaction = sem * emo_01 / (1 + math.exp(-0.5 * mov))
    to_1 = 0.4 * sem + 0.2 * emo_01 + 0.2 * mov + 0.2 * interaction
    to_2 = 0.4 * 0.0 + 0.2 * 1.0 + 0.2 * 0 + 0.2 * (0.0 * 1.0 * 0.5)   # cos 0, L1 0, nothing shared: sigmoid(0) = 1/2
    assert idx[0].tolist() == [1, 2]
    assert scores[0].tolist() == pytest.approx([to_1, to_2], rel=1e-5)
    assert SimilarityWeights().alpha == 1.0
    # four different weights: each term is pinned to its own weight (equal weights would let two terms swap)
    w = SimilarityWeights(0.1, 0.2, 0.3, 0.4, alpha=0.5)
    _, scores = top_k_neighbours(emb, emo, movies, w, k=2)
    assert scores[0].tolist() == pytest.approx([0.1 * sem + 0.2 * emo_01 + 0.3 * mov + 0.4 * interaction,
                                                0.2 * 1.0], rel=1e-5)


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        SimilarityWeights(0.5, 0.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="sum to 1"):
        AugmentSettings(w_semantic=0.9)


def test_emotion_vector() -> None:
    vec = emotion_vector("so scary and creepy, but funny")
    assert vec[EMOTIONS.index("fear")] == pytest.approx(2 / 3)
    assert emotion_vector("the").tolist() == pytest.approx([1 / 8] * 8)


def test_parse_dialogue_json_lines_and_junk() -> None:
    turns = parse_dialogue('Sure! {"turns": [{"role": "user", "text": "hi"}, {"role": "Recommender", "text": "X"}]}')
    assert [t.role for t in turns] == ["seeker", "recommender"]
    assert len(parse_dialogue("Seeker: hi\nRecommender: watch X\nnoise")) == 2
    with pytest.raises(ValueError):
        parse_dialogue("I cannot do that.")


def test_parse_vote() -> None:
    ok = parse_vote('{"semantic_consistency": 4, "fluency": 5, "plausibility": 3, "rationale": "fine"}')
    assert ok.valid and ok.passed and ok.scores["fluency"] == 5
    low = parse_vote('{"semantic_consistency": 2, "fluency": 5, "plausibility": 5, "pass": true}')
    assert low.valid and not low.passed  # a pass with a score under the minimum is not a pass
    assert not parse_vote("nope").valid
    assert not parse_vote('{"semantic_consistency": 0, "fluency": 5, "plausibility": 5}').valid


@pytest.mark.parametrize(("passes", "route"), [(5, "auto_accepted"), (4, "auto_accepted"), (3, "needs_review"),
                                               (2, "needs_review"), (1, "discarded"), (0, "discarded")])
def test_routing_thresholds(passes: int, route: str) -> None:
    assert route_for(passes) == route


@pytest.mark.parametrize("bad", [0, 6, -1, 2.5, "high", True, None])
@pytest.mark.parametrize("field", ["semantic_consistency", "fluency", "plausibility"])
def test_vote_scores_outside_1_to_5_are_invalid_on_both_sides(field: str, bad: object) -> None:
    scores: dict[str, object] = {"semantic_consistency": 4, "fluency": 4, "plausibility": 4, field: bad}
    vote = parse_vote(json.dumps(scores))
    assert not vote.valid and not vote.passed and set(vote.scores.values()) == {None}


@pytest.mark.parametrize("min_score", [1, 2, 3, 4, 5])
def test_a_vote_passes_exactly_when_every_score_reaches_min_score(min_score: int) -> None:
    for low in range(1, 6):
        vote = parse_vote(json.dumps({"semantic_consistency": 5, "fluency": low, "plausibility": 5}), min_score)
        assert vote.valid and vote.passed == (low >= min_score) and vote.scores["fluency"] == low
        said_no = parse_vote(json.dumps({"semantic_consistency": 5, "fluency": low, "plausibility": 5, "pass": False}),
                             min_score)
        assert said_no.valid and not said_no.passed  # the judge's own 'fail' is never overridden
    edge = parse_vote('{"semantic_consistency": "5", "fluency": 5.0, "plausibility": 5, "rationale": "' + "x" * 3000 + '"}')
    assert edge.valid and edge.scores == {"semantic_consistency": 5, "fluency": 5, "plausibility": 5}
    assert len(edge.rationale) == 2000


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Here it is:\n```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
    ('Scores {like this} or {"a": 1} - see above', {"a": 1}),          # a brace that is not JSON is skipped
    ('[not json] then [1, 2]', [1, 2]),
    ('{"rationale": "line one\nline two"}', {"rationale": "line one\nline two"}),  # raw newline inside a string
])
def test_extract_json_finds_the_first_json_value_in_prose(text: str, expected: object) -> None:
    from augment.structured import extract_json

    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json at all", "{broken", "[1, 2"])
def test_extract_json_refuses_a_reply_without_json(text: str) -> None:
    from augment.structured import extract_json

    with pytest.raises(ValueError):
        extract_json(text)


def test_llm_serve_refuses_a_port_where_another_server_answers() -> None:
    import http.server
    import threading

    from typer.testing import CliRunner

    from lumicrs_cli import app

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"data": []}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        result = CliRunner().invoke(app, ["llm", "serve", "--port", str(port)])
    finally:
        server.shutdown()
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0] and "serving" not in result.output


def test_the_similarity_settings_reach_the_prototype_weights() -> None:
    from augment.service import weights_from

    weights = weights_from(AugmentSettings(interaction_alpha=2.5, w_semantic=0.5, w_emotional=0.1))
    assert (weights.alpha, weights.semantic, weights.emotional) == (2.5, 0.5, 0.1)
    assert AugmentSettings().interaction_alpha == 1.0


def test_tail_movies_get_8_to_10_dialogues_and_body_movies_4_to_5() -> None:
    """LumiCRS Sec. 4.2.2: tail 8-10, body 4-5 augmented dialogues per movie; both ends of each range are drawn."""
    from augment.generate import samples_for
    from augment.settings import AugmentSettings

    settings = AugmentSettings()
    tail = {samples_for(m, "tail", settings.tail_dialogues, settings.body_dialogues) for m in range(300)}
    body = {samples_for(m, "body", settings.tail_dialogues, settings.body_dialogues) for m in range(300)}
    assert (tail, body) == ({8, 9, 10}, {4, 5})


def test_the_generation_prompt_carries_the_target_the_prototype_and_two_similar_dialogues() -> None:
    """LumiCRS Sec. 4.2.2: the LLM is given the target, the prototype and similar dialogues of its support set (the
    first two here; the third is left out)."""
    from augment.generators import GenerationContext, LLMGenerator
    from db.types import MovieInfo, Turn

    class Chat:
        name = "gen"

    ctx = GenerationContext(MovieInfo(id=1, external_id="1", title="Alien (1979)", genres=("horror",), plot="Space."),
                            "tail", (Turn(role="seeker", text="prototype line"),),
                            tuple((Turn(role="recommender", text=f"support line {i}"),) for i in range(3)))
    messages = LLMGenerator(Chat()).messages(ctx, 4)  # type: ignore[arg-type]
    user = messages[-1]["content"]
    assert messages[0]["role"] == "system" and "JSON" in messages[0]["content"]
    assert 'recommends "Alien (1979)"' in user and "(genres: horror)" in user and "Plot: Space." in user
    assert "tail tier" in user and "Seeker: prototype line" in user and "Variation #4" in user
    assert "Recommender: support line 0" in user and "Recommender: support line 1" in user
    assert "support line 2" not in user
