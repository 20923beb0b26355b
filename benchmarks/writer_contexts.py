"""The seeded train prototypes the writer benchmarks write for (benchmarks/writer_quality.py, writer_throughput.py)."""
from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.generate import prototype_context
from augment.generators import GenerationContext
from augment.prototypes import select_prototypes
from augment.service import weights_from
from augment.settings import get_settings
from db.engine import write_transaction
from db.models import Dataset, Movie, Prototype
from db.queries.corpus import list_dialogues
from db.types import Dialogue

DATASET = "redial"


def seeded_contexts(factory: sessionmaker[Session], n: int, dataset: str = DATASET,
                    cold_start: bool = False) -> tuple[list[GenerationContext], dict[int | None, Dialogue]]:
    """`n` body/tail prototypes of the dataset's train split (as `augment prototypes` picks them; made when the
    database has none), drawn with seed 0, as generation contexts; and the train dialogues by conversation.
    cold_start: the prototypes of catalog movies no train dialogue mentions instead (`augment prototypes
    --cold-start`, made when missing)."""
    settings = get_settings()
    with write_transaction(factory) as session:
        ours = select(Prototype).join(Movie).join(Dataset).where(Dataset.name == dataset)
        have = list(session.scalars(ours))
        if not have or (cold_start and not any((p.weights or {}).get("cold_start") for p in have)):
            select_prototypes(session, dataset, weights_from(settings), support_k=settings.support_k,
                              cold_start=cold_start)
    with factory() as session:
        dialogues = {d.conversation_id: d for d in list_dialogues(session, dataset, ["train"])}
        prototypes = list(session.scalars(select(Prototype).join(Movie).join(Dataset)
                                          .where(Dataset.name == dataset, Prototype.tier.in_(("body", "tail")),
                                                 Prototype.conversation_id.in_(dialogues))
                                          .order_by(Prototype.id)))
        prototypes = [p for p in prototypes if bool((p.weights or {}).get("cold_start")) == cold_start]
        picked = random.Random(0).sample(prototypes, min(n, len(prototypes)))
        return [prototype_context(session, p, dialogues) for p in picked], dialogues


class CountingChat:
    """Forwards to the engine and sums the tokens it generated (every sample, the retried ones included)."""

    def __init__(self, chat: Any) -> None:
        self.chat, self.name, self.generated = chat, chat.name, 0

    def complete_text(self, prompt: str, **params: Any) -> Any:
        reply = self.chat.complete_text(prompt, **params)
        self.generated += reply.completion_tokens or 0
        return reply
