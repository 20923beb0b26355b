"""Plain builders for test rows and small corpus files. Never mocks: real rows in a real DB."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db.models import Conversation, Dataset, Mention, Movie, Utterance

MOVIES_CSV = "movieId,movieName,nbMentions\n1,Alpha (2001),9\n2,Beta  (1999),3\n3,Gamma (2010),1\n"


def redial_line(conv_id: int, messages: list[tuple[int, str]], **extra: Any) -> str:
    record = {
        "conversationId": str(conv_id),
        "initiatorWorkerId": 10,
        "respondentWorkerId": 20,
        "movieMentions": {"1": "Alpha (2001)", "2": "Beta  (1999)", "3": "Gamma (2010)"},
        "initiatorQuestions": {"1": {"suggested": 0, "seen": 1, "liked": 1}},
        "respondentQuestions": {"2": {"suggested": 1, "seen": 0, "liked": 2}},
        "messages": [{"senderWorkerId": s, "text": t, "messageId": i, "timeOffset": i}
                     for i, (s, t) in enumerate(messages)],
    }
    record.update(extra)
    return json.dumps(record)


def write_redial_dir(root: Path, lines: list[str] | None = None) -> Path:
    """A tiny ReDial directory: catalog + test_data.jsonl."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "movies_with_mentions.csv").write_text(MOVIES_CSV)
    lines = lines or [
        redial_line(100, [(10, "hi, I liked @1"), (20, "try @2 or @1"), (10, "thanks")]),
        redial_line(101, [(10, "something like @1?"), (20, "@3 is great"), (10, "ok @2")]),
    ]
    (root / "test_data.jsonl").write_text("\n".join(lines) + "\n")
    return root


def make_dataset(session: Session, name: str = "toy") -> Dataset:
    dataset = Dataset(name=name)
    session.add(dataset)
    session.flush()
    return dataset


def make_movie(session: Session, dataset: Dataset, key: str, title: str | None = None, **kw: Any) -> Movie:
    movie = Movie(dataset_id=dataset.id, external_id=key, title=title or f"Movie {key} (2000)", meta=kw.pop("meta", {}), **kw)
    session.add(movie)
    session.flush()
    return movie


def make_conversation(session: Session, dataset: Dataset, key: str, turns: list[tuple[str, str, list[Movie]]],
                      split: str = "train", origin: str = "original") -> Conversation:
    conv = Conversation(dataset_id=dataset.id, external_id=key, split=split, origin=origin)
    session.add(conv)
    session.flush()
    for position, (role, text, movies) in enumerate(turns):
        utt = Utterance(conversation_id=conv.id, position=position, role=role, text=text)
        session.add(utt)
        session.flush()
        for movie in movies:
            session.add(Mention(utterance_id=utt.id, movie_id=movie.id))
    session.flush()
    return conv


EDITED_TURNS = [{"role": "seeker", "text": "scary?"}, {"role": "recommender", "text": "Tail Film (2011)!"}]
"""An edited dialogue for the queue's candidates (make_review_queue)."""


def make_review_queue(session: Session, n: int = 3, overlap: int = 1, tier: str = "tail") -> list[int]:
    """n needs_review candidates (3 of 5 judges pass) with adjudication tasks; returns task ids."""
    from db.models import Candidate, JudgeVote, Prototype, ReviewTask

    ds = make_dataset(session, "toy")
    target = make_movie(session, ds, "t", "Tail Film (2011)", meta={"genre": ["horror"]})
    conv = make_conversation(session, ds, "proto", [("seeker", "I like scary films", []),
                                                    ("recommender", "Try Tail Film", [target])])
    proto = Prototype(movie_id=target.id, conversation_id=conv.id, tier=tier, score=0.5, weights={})
    session.add(proto)
    session.flush()
    task_ids = []
    for i in range(n):
        cand = Candidate(prototype_id=proto.id, movie_id=target.id, tier=tier, generator="gen-ok", sample_index=i,
                         prompt_hash="0" * 64, params={}, status="needs_review", pass_votes=3, turns=[
                             {"role": "seeker", "text": f"Any creepy movie? #{i}", "movie_ids": []},
                             {"role": "recommender", "text": "Tail Film is terrifying.", "movie_ids": [target.id]}])
        session.add(cand)
        session.flush()
        for j, passed in enumerate([True, True, True, False, False]):
            session.add(JudgeVote(candidate_id=cand.id, judge=f"judge-{j}", valid=j != 4, passed=passed,
                                  semantic=4 if passed else 2, fluency=4, plausibility=4 if passed else 2,
                                  rationale=f"rationale {j}"))
        task = ReviewTask(kind="adjudication", candidate_id=cand.id, overlap=overlap)
        session.add(task)
        session.flush()
        task_ids.append(task.id)
    session.commit()
    return task_ids


def make_rating_queue(session: Session, n: int = 2, overlap: int = 2) -> list[int]:
    from db.models import Response, ReviewTask

    ds = make_dataset(session, "rate")
    conv = make_conversation(session, ds, "r1", [("seeker", "I want a comedy", []),
                                                 ("recommender", "Try Airplane!", []),
                                                 ("seeker", "Seen it", []), ("recommender", "Then Top Secret!", [])])
    task_ids = []
    for i in range(n):
        response = Response(conversation_id=conv.id, turn_position=1 + 2 * (i % 2), system=f"sys{i}",
                            text=f"response {i}")
        session.add(response)
        session.flush()
        task = ReviewTask(kind="rating", response_id=response.id, overlap=overlap)
        session.add(task)
        session.flush()
        task_ids.append(task.id)
    session.commit()
    return task_ids


PROTOTYPE_TURNS = [("seeker", "I like scary films"), ("recommender", "Try Tail Film")]


def make_generated_candidates(session: Session, similarities: list[float | None], dataset: str = "toy") -> list[int]:
    """Generated tail candidates of one prototype (its dialogue: PROTOTYPE_TURNS), one per entry, each a single turn
    'candidate {i}' with that similarity to the prototype (None: not filtered yet); returns their ids."""
    from db.models import Candidate, Prototype

    ds = make_dataset(session, dataset)
    movie = make_movie(session, ds, "t", "Tail Film (2011)")
    conv = make_conversation(session, ds, "proto", [(role, text, [movie] if role == "recommender" else [])
                                                    for role, text in PROTOTYPE_TURNS])
    proto = Prototype(movie_id=movie.id, conversation_id=conv.id, tier="tail", score=0.5, weights={})
    session.add(proto)
    session.flush()
    ids = []
    for i, similarity in enumerate(similarities):
        candidate = Candidate(prototype_id=proto.id, movie_id=movie.id, tier="tail", generator="g", sample_index=i,
                              prompt_hash="0" * 64, params={}, status="generated", similarity_to_prototype=similarity,
                              turns=[{"role": "seeker", "text": f"candidate {i}", "movie_ids": []}])
        session.add(candidate)
        session.flush()
        ids.append(candidate.id)
    return ids


PANEL = {"judge-0": (0.95, 0.95), "judge-1": (0.8, 0.8), "judge-2": (0.8, 0.75), "judge-3": (0.75, 0.8),
         "judge-4": (0.5, 0.5)}  # (sensitivity, specificity); judge-4 votes at random


def make_judged_panel(session: Session, decided: int, new: int, seed: int = 0,
                      band_only: bool = False) -> tuple[list[int], dict[int, bool]]:
    """decided + new filtered candidates with five votes each; the first `decided` carry the reviewers' verdict.
    band_only: as the votes policy leaves them instead, of the first `decided` only the 2-3-pass band carries a
    verdict, 4-5 passes are auto-accepted and 0-1 discarded."""
    import numpy as np

    from db.models import Candidate, JudgeVote

    rng = np.random.default_rng(seed)
    ids = make_generated_candidates(session, [0.5] * (decided + new))
    truth = {}
    for k, candidate_id in enumerate(ids):
        truth[candidate_id] = bool(rng.random() < 0.6)
        passes = 0
        for judge, (se, sp) in PANEL.items():
            passed = bool(rng.random() < (se if truth[candidate_id] else 1 - sp))
            passes += passed
            session.add(JudgeVote(candidate_id=candidate_id, judge=judge, valid=True, passed=passed, rationale=""))
        if k < decided:
            human = "accepted" if truth[candidate_id] else "rejected"
            band = human if 2 <= passes <= 3 else "auto_accepted" if passes >= 4 else "discarded"
            session.get_one(Candidate, candidate_id).status = band if band_only else human
    session.flush()
    return ids[decided:], truth


def press_ctrl_c() -> None:
    """A real Ctrl+C (SIGINT to this process) from inside an LLM call, then a pause so that the main thread handles it
    before the calling worker takes another job."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)


def race(n: int, work: Callable[[int], object]) -> list[object]:
    """`work(0..n-1)` on n real threads released together by a barrier; each one's result, or the exception it raised."""
    barrier = threading.Barrier(n)
    outcomes: list[object] = [None] * n

    def target(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = work(i)
        except BaseException as exc:  # noqa: BLE001
            outcomes[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
