"""Frozen DTOs passed between packages (never ORM objects)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["seeker", "recommender"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Turn(Frozen):
    role: Role
    text: str
    movie_ids: tuple[int, ...] = ()


class Dialogue(Frozen):
    conversation_id: int | None = None
    external_id: str
    dataset: str
    split: str
    origin: Literal["original", "augmented"] = "original"
    turns: tuple[Turn, ...]


class MovieInfo(Frozen):
    id: int
    external_id: str
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    plot: str = ""


class ExportRecord(Frozen):
    """One approved augmented dialogue in an exported dataset (JSONL / parquet row)."""

    candidate_id: int
    dataset: str
    target_movie_id: int
    target_title: str
    tier: str
    turns: tuple[Turn, ...]
    prototype_conversation_id: int
    generator: str
    judges: dict[str, bool] = Field(default_factory=dict)
    pass_votes: int
    decision: Literal["auto_accepted", "accepted"]
    decided_how: Literal["auto-accepted", "unanimous", "majority", "adjudicated"] = "auto-accepted"
    reviewers: tuple[str, ...] = ()


def merge_turns(turns: Sequence[Turn]) -> list[Turn]:
    """Consecutive messages of one sender become one turn (texts joined by a space, mentions in order), as
    CRSLab / UniCRS do; applied to every source, so raw ReDial/INSPIRED and pre-merged files give the same rows."""
    merged: list[Turn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            last = merged[-1]
            merged[-1] = Turn(role=last.role, text=f"{last.text} {turn.text}".strip(),
                              movie_ids=tuple(dict.fromkeys(last.movie_ids + turn.movie_ids)))
        else:
            merged.append(turn)
    return merged
