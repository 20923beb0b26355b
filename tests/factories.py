"""Plain builders for test rows and small corpus files. Never mocks: real rows in a real DB."""
from __future__ import annotations

import json
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
