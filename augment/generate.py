"""`augment generate`: tail 8-10 / body 4-5 dialogues per prototype, concurrent, resumable."""
from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from augment.concurrency import run_calls
from augment.generators import GenerationContext, Generator, generation_hash
from db.engine import write_transaction
from db.models import Candidate, Dataset, Movie, Prototype, SupportExample
from db.queries.candidates import tag_target_mentions
from db.queries.corpus import list_dialogues, movie_info
from db.types import Dialogue, Turn


@dataclass(frozen=True)
class Job:
    prototype_id: int
    movie_id: int
    tier: str
    sample_index: int
    ctx: GenerationContext


@dataclass(frozen=True)
class GenerateSummary:
    generator: str
    planned: int
    created: int
    unparseable: int
    failed: int
    interrupted: bool = False


def samples_for(movie_id: int, tier: str, tail_range: tuple[int, int], body_range: tuple[int, int]) -> int:
    low, high = tail_range if tier == "tail" else body_range
    return random.Random(movie_id).randint(low, high)


def prototype_context(session: Session, proto: Prototype, dialogues: dict[int | None, Dialogue]) -> GenerationContext:
    """What a generator is given for one prototype: the target movie, its tier, the prototype and its support set."""
    supports = session.scalars(select(SupportExample.conversation_id)
                               .where(SupportExample.prototype_id == proto.id).order_by(SupportExample.rank))
    return GenerationContext(movie_info(session.get_one(Movie, proto.movie_id)), proto.tier,
                             dialogues[proto.conversation_id].turns,
                             tuple(dialogues[c].turns for c in supports if c in dialogues))


def plan_jobs(session: Session, dataset: str, generator: Generator, tail_range: tuple[int, int],
              body_range: tuple[int, int], limit: int | None = None) -> list[Job]:
    prototypes = list(session.scalars(
        select(Prototype).join(Movie, Movie.id == Prototype.movie_id).join(Dataset, Dataset.id == Movie.dataset_id)
        .where(Dataset.name == dataset).order_by(Prototype.id)))[:limit]
    dialogues = {d.conversation_id: d for d in list_dialogues(session, dataset)}
    done = set(session.execute(select(Candidate.prototype_id, Candidate.sample_index)
                               .where(Candidate.generator == generator.name)).all())
    jobs = []
    for proto in prototypes:
        ctx = prototype_context(session, proto, dialogues)
        for index in range(samples_for(proto.movie_id, proto.tier, tail_range, body_range)):
            if (proto.id, index) not in done:
                jobs.append(Job(proto.id, proto.movie_id, proto.tier, index, ctx))
    return jobs


def run_generation(session_factory: sessionmaker[Session], dataset: str, generator: Generator, *,
                   tail_range: tuple[int, int] = (8, 10), body_range: tuple[int, int] = (4, 5),
                   concurrency: int = 4, limit: int | None = None, params: dict[str, object] | None = None,
                   progress: bool = True) -> GenerateSummary:
    with session_factory() as session:
        jobs = plan_jobs(session, dataset, generator, tail_range, body_range, limit)
    if getattr(generator, "batch", 1) > 1:
        from augment.writer import WriterGenerator
        from augment.writer_batch import write_jobs
        assert isinstance(generator, WriterGenerator)
        return write_jobs(session_factory, dataset, generator, jobs, params=params, progress=progress)
    created = unparseable = failed = 0

    def attempt(job: Job) -> list[Turn]:
        try:
            return generator.generate(job.ctx, job.sample_index)
        except ValueError:  # the reply was not a dialogue
            return []

    batch = run_calls(attempt, jobs, concurrency=concurrency, desc=f"generate ({generator.name})", progress=progress)
    for job, turns in batch:
        if not turns:
            failed, unparseable = failed + (turns is None), unparseable + (turns is not None)
            continue
        created += store_candidate(session_factory, generator, job, turns, params)
    return GenerateSummary(generator.name, len(jobs), created, unparseable, failed, batch.interrupted)


def store_candidate(session_factory: sessionmaker[Session], generator: Generator, job: Job, turns: list[Turn],
                    params: dict[str, object] | None) -> bool:
    """One candidate per transaction: a killed run keeps every dialogue it finished. False when another process
    stored this job (prototype, generator, sample index) first: the unique constraint keeps theirs, one copy."""
    try:
        with write_transaction(session_factory) as session:
            session.add(Candidate(
                prototype_id=job.prototype_id, movie_id=job.movie_id, tier=job.tier, generator=generator.name,
                sample_index=job.sample_index, prompt_hash=generation_hash(generator, job.ctx, job.sample_index),
                params=params or {}, status="generated",
                turns=[t.model_dump() for t in tag_target_mentions(turns, job.movie_id, job.ctx.target.title)]))
    except IntegrityError:
        return False
    return True

