from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import make_conversation, make_dataset, make_movie


def build_longtail_corpus(session: Session) -> None:
    """'toy': Head (7 mentions), Body (3 mentions), Tail (1 mention), all in train dialogues."""
    ds = make_dataset(session, "toy")
    head = make_movie(session, ds, "h", "Head Film (1999)", meta={"genre": ["action"], "plot": "Heroes save a city."})
    body = make_movie(session, ds, "b", "Body Film (2004)", meta={"genre": ["drama"], "plot": "A family reunites."})
    tail = make_movie(session, ds, "t", "Tail Film (2011)", meta={"genre": ["horror"], "plot": "A house is haunted."})
    for i in range(7):
        extra = [body] if i < 3 else []
        make_conversation(session, ds, f"c{i}", [
            ("seeker", "I want something fun and exciting tonight", []),
            ("recommender", f"You will love {head.title}", [head, *extra]),
            ("seeker", "Great, thanks!", []),
        ])
    make_conversation(session, ds, "scary", [
        ("seeker", "I love scary creepy horror movies", []),
        ("recommender", f"Try {tail.title}, it is terrifying", [tail]),
        ("seeker", "Sounds spooky, thanks", []),
    ])
    session.commit()
