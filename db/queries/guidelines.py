"""The project's annotation guidelines: versioned, written by leads, shown beside every task, named by each export."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.errors import Conflict
from db.models import Guideline, Reviewer
from db.rubrics import RUBRICS

MAX_CHARS = 50_000


def default_guidelines() -> str:
    """What a project starts with until a lead writes its own (version 0, never stored)."""
    rubrics = "\n".join(f"- **{r.label}**: {r.guidance}" for r in RUBRICS)
    return ("### Adjudicating augmented dialogues (Review)\n"
            "- **Accept** when the dialogue is about its target movie, reads like two people talking, and the "
            "recommender behaves plausibly (asks, recommends, explains). Small flaws are fine.\n"
            "- **Edit** when one or two turns are wrong but the rest is worth keeping: fix them, keep the roles, "
            "and say what you changed in the reason.\n"
            "- **Reject** when the target movie is missing or wrong, the roles are mixed up, the turns repeat, or "
            "it would take rewriting to fix. Say why in the reason.\n"
            "- **Skip** when you cannot decide: the task goes to someone else.\n\n"
            "### Rating responses (Rate)\n"
            f"Score each rubric 1 (worst) to 5 (best); N/A when the rubric does not apply to this response.\n{rubrics}\n")


@dataclass(frozen=True)
class Guidelines:
    version: int  # 0: the built-in default
    text: str
    created_by: str | None


def current_guidelines(session: Session) -> Guidelines:
    row = session.scalar(select(Guideline).order_by(Guideline.version.desc()).limit(1))
    if row is None:
        return Guidelines(0, default_guidelines(), None)
    return Guidelines(row.version, row.text, row.created_by)


def save_guidelines(session: Session, text: str, lead: Reviewer) -> Guidelines:
    """A new version by a lead (unchanged text: no new version). Two leads saving at once get distinct versions or
    a Conflict, never one version with two texts."""
    if lead.role != "lead" or not lead.active:
        raise ValueError(f"{lead.name} is not an active lead; only leads write the guidelines")
    text = text.strip()
    if not text:
        raise ValueError("the guidelines are empty: write at least one line")
    if len(text) > MAX_CHARS or "\x00" in text:
        raise ValueError(f"the guidelines must be under {MAX_CHARS:,} characters of text")
    current = current_guidelines(session)
    if current.text == text and current.version > 0:
        return current
    version = (session.scalar(select(func.max(Guideline.version))) or 0) + 1
    try:
        with session.begin_nested():
            session.add(Guideline(version=version, text=text, created_by=lead.name))
    except IntegrityError as exc:
        raise Conflict(f"guidelines v{version} were saved by another lead a moment ago; reload and save again") from exc
    return Guidelines(version, text, lead.name)
