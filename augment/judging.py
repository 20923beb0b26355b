"""Five LLM judges vote on each filtered candidate; malformed output becomes an invalid vote."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from augment.errors import LLMError
from augment.llm import ChatModel
from augment.prompts import extract_json, render_messages
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
                     progress: bool = True) -> JudgeSummary:
    with session_factory() as session:
        candidates = list(session.scalars(candidates_in(dataset, "generated")
                                          .where(Candidate.similarity_to_prototype.is_not(None))))
        voted = set(session.execute(select(JudgeVote.candidate_id, JudgeVote.judge)).all())
        titles = dict(session.execute(select(Movie.id, Movie.title)).all())
    jobs = [(c, j) for c in candidates for j in judges if (c.id, j.name) not in voted]
    cast = invalid = failed = 0
    with ThreadPoolExecutor(max_workers=max(concurrency, 1)) as pool:
        futures = {pool.submit(judge.complete, render_messages("judge", target_title=titles[c.movie_id], turns=c.turns),
                               temperature=temperature): (c, judge) for c, judge in jobs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="judge", disable=not progress):
            candidate, judge = futures[future]
            try:
                raw = future.result().text
            except LLMError as exc:
                failed += 1
                tqdm.write(f"judge {judge.name} failed on candidate {candidate.id}: {exc}")
                continue
            vote = parse_vote(raw, min_score)
            with session_factory.begin() as session:
                session.add(JudgeVote(candidate_id=candidate.id, judge=judge.name, valid=vote.valid, passed=vote.passed,
                                      semantic=vote.scores["semantic_consistency"], fluency=vote.scores["fluency"],
                                      plausibility=vote.scores["plausibility"], rationale=vote.rationale,
                                      raw=raw[:8000]))
            cast, invalid = cast + 1, invalid + (not vote.valid)
    return JudgeSummary(len(candidates), cast, invalid, failed)
