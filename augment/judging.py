"""Five judges vote on each filtered candidate: LLM judges on an endpoint (malformed output becomes an invalid vote),
or, without one, the local trained panel (augment.panel)."""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from augment.concurrency import run_calls
from augment.llm import ChatModel, Completion
from augment.panel import JudgePanel
from augment.prompts import render_messages
from augment.structured import JudgeReply, parse_reply
from db.engine import write_transaction
from db.models import Candidate, JudgeVote, Movie
from db.queries.candidates import candidates_in
from db.types import Turn

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
    interrupted: bool = False


def parse_vote(text: str, min_score: int = 3) -> ParsedVote:
    """A vote passes only when every score is >= min_score (and the judge did not say 'pass': false)."""
    reply = parse_reply(text, JudgeReply)
    if reply is None:
        return ParsedVote(False, False, {k: None for k in SCORES}, "")
    scores: dict[str, int | None] = {k: int(getattr(reply, k)) for k in SCORES}
    passed = reply.passed is not False and all(v is not None and v >= min_score for v in scores.values())
    return ParsedVote(True, passed, scores, reply.rationale[:2000])


def judge_candidates(session_factory: sessionmaker[Session], dataset: str, judges: list[ChatModel], *,
                     temperature: float = 0.0, min_score: int = 3, concurrency: int = 4, max_tokens: int = 512,
                     progress: bool = True, limit: int | None = None,
                     schema: type[BaseModel] = JudgeReply) -> JudgeSummary:
    """Every judge votes once on each filtered candidate (at most `limit` candidates still missing a vote). `schema`
    is the reply shape asked of the endpoint; every reply is read as a JudgeReply (the rationale may be absent)."""
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
                              schema=schema, temperature=temperature, max_tokens=max_tokens)

    batch = run_calls(ask, jobs, concurrency=concurrency, desc="judge", progress=progress)
    for (candidate, judge), reply in batch:
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
    return JudgeSummary(len(candidates), cast, invalid, failed, batch.interrupted)


def panel_judge_candidates(session_factory: sessionmaker[Session], dataset: str, panel: JudgePanel, *,
                           progress: bool = True, limit: int | None = None, batch: int = 64) -> JudgeSummary:
    """The local panel's five votes on each filtered candidate still missing one (at most `limit` candidates), in
    this process; each batch of candidates is committed with its votes, so an interrupted run resumes."""
    with session_factory() as session:
        candidates = list(session.scalars(candidates_in(dataset, "generated")
                                          .where(Candidate.similarity_to_prototype.is_not(None))))
        voted = set(session.execute(select(JudgeVote.candidate_id, JudgeVote.judge)).all())
        titles = dict(session.execute(select(Movie.id, Movie.title)).all())
    candidates = [c for c in candidates if any((c.id, j) not in voted for j in panel.names)][:limit]
    cast = 0
    for start in range(0, len(candidates), batch):
        chunk = candidates[start:start + batch]
        dialogues = [([Turn(role=t["role"], text=t["text"]) for t in c.turns], titles[c.movie_id]) for c in chunk]
        results = panel.vote_many(dialogues, progress=progress)
        with write_transaction(session_factory) as session:
            for candidate, votes in zip(chunk, results, strict=True):
                for vote in votes:
                    if (candidate.id, vote.judge) in voted:
                        continue
                    scores = {"semantic": None, "fluency": None, "plausibility": None, vote.column: vote.score}
                    session.add(JudgeVote(candidate_id=candidate.id, judge=vote.judge, valid=True, passed=vote.passed,
                                          rationale=vote.rationale, raw=f"p={vote.probability:.4f}", **scores))
                    cast += 1
    return JudgeSummary(len(candidates), cast, 0, 0)
