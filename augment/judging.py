"""Five LLM judges vote on each filtered candidate; malformed output becomes an invalid vote."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.concurrency import run_calls
from augment.llm import ChatModel, Completion
from augment.prompts import extract_json, render_messages
from db.engine import write_transaction
from db.models import Candidate, JudgeVote, Movie
from db.queries.candidates import candidates_in

SCORES = ("semantic_consistency", "fluency", "plausibility")


@dataclass(frozen=True)
class ParsedVote:
    valid: bool
    passed: bool
    scores: dict[str, int | None]
    rationale: str


@dataclass(frozen=True)
class JudgeSummary:
    candidates: int
    votes_cast: int
    invalid: int
    failed_calls: int


def parse_vote(text: str, min_score: int = 3) -> ParsedVote:
    """Scores must be integers 1-5; 'pass' defaults to all scores >= min_score."""
    invalid = ParsedVote(False, False, {k: None for k in SCORES}, "")
    try:
        data: Any = extract_json(text)
        scores = {k: int(data[k]) for k in SCORES}
    except (ValueError, KeyError, TypeError):
        return invalid
    if not all(1 <= v <= 5 for v in scores.values()):
        return invalid
    passed = data.get("pass")
    if not isinstance(passed, bool):
        passed = all(v >= min_score for v in scores.values())
    return ParsedVote(True, passed and all(v >= min_score for v in scores.values()), dict(scores),
                      str(data.get("rationale", ""))[:2000])


def judge_candidates(session_factory: sessionmaker[Session], dataset: str, judges: list[ChatModel], *,
                     temperature: float = 0.0, min_score: int = 3, concurrency: int = 4,
                     progress: bool = True, limit: int | None = None) -> JudgeSummary:
    """Every judge votes once on each filtered candidate (at most `limit` candidates still missing a vote)."""
    with session_factory() as session:
        candidates = list(session.scalars(candidates_in(dataset, "generated")
                                          .where(Candidate.similarity_to_prototype.is_not(None))))
        voted = set(session.execute(select(JudgeVote.candidate_id, JudgeVote.judge)).all())
        titles = dict(session.execute(select(Movie.id, Movie.title)).all())
    candidates = [c for c in candidates if any((c.id, j.name) not in voted for j in judges)][:limit]
    jobs = [(c, j) for c in candidates for j in judges if (c.id, j.name) not in voted]
    cast = invalid = failed = 0
    def ask(job: tuple[Candidate, ChatModel]) -> Completion:
        candidate, judge = job
        return judge.complete(render_messages("judge", target_title=titles[candidate.movie_id], turns=candidate.turns),
                              temperature=temperature)

    for (candidate, judge), reply in run_calls(ask, jobs, concurrency=concurrency, desc="judge", progress=progress):
        if reply is None:
            failed += 1
            continue
        vote = parse_vote(reply.text, min_score)
        with write_transaction(session_factory) as session:
            session.add(JudgeVote(candidate_id=candidate.id, judge=judge.name, valid=vote.valid, passed=vote.passed,
                                  semantic=vote.scores["semantic_consistency"], fluency=vote.scores["fluency"],
                                  plausibility=vote.scores["plausibility"], rationale=vote.rationale,
                                  raw=reply.text[:8000]))
        cast, invalid = cast + 1, invalid + (not vote.valid)
    return JudgeSummary(len(candidates), cast, invalid, failed)
