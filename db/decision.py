"""The human decision rule for an adjudication task: one pure function, used by every path that stores a verdict.

    n = verdicts, a = accept + edit, r = reject, base = the task's overlap
    n < base          -> open, candidate needs_review, required = base
    a == r (n >= base) -> open (a tie reopens a decided task), required = n + 1: exactly one more reviewer
    otherwise         -> done, candidate accepted if a > r else rejected, required = n

It is re-run on every verdict, late ones included, so a task's status always equals the rule applied to all of
its verdicts. `how` says how a decided task was decided: unanimous, majority, or adjudicated (a tie was broken).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    EDIT = "edit"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class How(StrEnum):
    PENDING = "pending"
    TIE = "tie"
    UNANIMOUS = "unanimous"
    MAJORITY = "majority"
    ADJUDICATED = "adjudicated"


APPROVING = frozenset({Verdict.ACCEPT, Verdict.EDIT})


@dataclass(frozen=True)
class Decision:
    task_status: TaskStatus
    candidate_status: str  # needs_review | accepted | rejected
    required: int
    accepts: int
    rejects: int
    how: How


def decide(verdicts: Iterable[str], base_overlap: int, *, tied_before: bool = False) -> Decision:
    """Apply the majority rule to all verdicts of one task (see the module docstring)."""
    values = [Verdict(v) for v in verdicts]
    accepts = sum(v in APPROVING for v in values)
    rejects = len(values) - accepts
    n = len(values)
    if n < base_overlap:
        return Decision(TaskStatus.OPEN, "needs_review", base_overlap, accepts, rejects, How.PENDING)
    if accepts == rejects:
        return Decision(TaskStatus.OPEN, "needs_review", n + 1, accepts, rejects, How.TIE)
    if accepts == 0 or rejects == 0:
        how = How.UNANIMOUS
    else:
        how = How.ADJUDICATED if tied_before else How.MAJORITY
    return Decision(TaskStatus.DONE, "accepted" if accepts > rejects else "rejected", n, accepts, rejects, how)
