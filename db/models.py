"""Tables. Mapped/mapped_column only; queries live in db/queries/."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- corpus -------------------------------------------------------------------------------


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Movie(Base):
    __tablename__ = "movies"
    __table_args__ = (UniqueConstraint("dataset_id", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(512))
    year: Mapped[int | None] = mapped_column(Integer)
    catalog_mentions: Mapped[int | None] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


class KGFact(Base):
    """One edge of the item knowledge graph: movie -[relation]-> entity (a genre or a person), from the staged
    CFCRS graph (`metadata/<dataset>/cfcrs_kg/`). Entities are kept by name and type; the trainer builds the graph."""

    __tablename__ = "kg_facts"
    __table_args__ = (UniqueConstraint("movie_id", "relation", "entity"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(512))
    entity_type: Mapped[str] = mapped_column(String(16))


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("dataset_id", "external_id"),
        CheckConstraint("origin in ('original', 'augmented')", name="origin"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(255))
    split: Mapped[str] = mapped_column(String(16), index=True)
    origin: Mapped[str] = mapped_column(String(16), default="original")
    source_file: Mapped[str | None] = mapped_column(String(512))
    utterances: Mapped[list[Utterance]] = relationship(
        back_populates="conversation", order_by="Utterance.position", cascade="all, delete-orphan"
    )


class Utterance(Base):
    __tablename__ = "utterances"
    __table_args__ = (
        UniqueConstraint("conversation_id", "position"),
        CheckConstraint("role in ('seeker', 'recommender')", name="role"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    conversation: Mapped[Conversation] = relationship(back_populates="utterances")


class Mention(Base):
    """A movie mentioned in one utterance (ReDial @id, INSPIRED movie column)."""

    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("utterance_id", "movie_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    utterance_id: Mapped[int] = mapped_column(ForeignKey("utterances.id", ondelete="CASCADE"), index=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)


class MovieAnswer(Base):
    """ReDial's per-conversation questionnaire: suggested / seen / liked for each mentioned movie."""

    __tablename__ = "movie_answers"
    __table_args__ = (UniqueConstraint("conversation_id", "movie_id", "answered_by"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    answered_by: Mapped[str] = mapped_column(String(16))  # initiator | respondent
    suggested: Mapped[int | None] = mapped_column(Integer)
    seen: Mapped[int | None] = mapped_column(Integer)
    liked: Mapped[int | None] = mapped_column(Integer)


# --- augmentation -------------------------------------------------------------------------


class Prototype(Base):
    """A real conversation chosen as the template for augmenting one body/tail movie."""

    __tablename__ = "prototypes"
    __table_args__ = (UniqueConstraint("movie_id", "conversation_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SupportExample(Base):
    """Top-K support set of a prototype: the most similar other conversations."""

    __tablename__ = "support_examples"
    __table_args__ = (UniqueConstraint("prototype_id", "rank"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    prototype_id: Mapped[int] = mapped_column(ForeignKey("prototypes.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    similarity: Mapped[float] = mapped_column(Float)


class LLMCall(Base):
    """Cache of every LLM call, keyed by sha256 of model+messages+params."""

    __tablename__ = "llm_cache"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(255))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[list[str]] = mapped_column(JSON)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Candidate(Base):
    """One generated (augmented) dialogue and where it is in the pipeline."""

    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("prototype_id", "generator", "sample_index"),
        CheckConstraint(
            "status in ('generated', 'duplicate', 'auto_accepted', 'needs_review', 'discarded',"
            " 'accepted', 'rejected')",
            name="status",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    prototype_id: Mapped[int] = mapped_column(ForeignKey("prototypes.id", ondelete="CASCADE"), index=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    tier: Mapped[str] = mapped_column(String(8))
    generator: Mapped[str] = mapped_column(String(255))
    sample_index: Mapped[int] = mapped_column(Integer)
    prompt_hash: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    turns: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    similarity_to_prototype: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="generated", index=True)
    pass_votes: Mapped[int | None] = mapped_column(Integer)
    approve_posterior: Mapped[float | None] = mapped_column(Float)  # calibration.judge_model: P(a reviewer approves | votes)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JudgeVote(Base):
    __tablename__ = "judge_votes"
    __table_args__ = (UniqueConstraint("candidate_id", "judge"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    judge: Mapped[str] = mapped_column(String(255))
    valid: Mapped[bool] = mapped_column(Boolean)
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    semantic: Mapped[int | None] = mapped_column(Integer)
    fluency: Mapped[int | None] = mapped_column(Integer)
    plausibility: Mapped[int | None] = mapped_column(Integer)
    rationale: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[str] = mapped_column(Text, default="")


class RelevanceLabel(Base):
    """Beyond Single Labels: an LLM's 0-4 relevance of a retrieved movie for one recommender turn."""

    __tablename__ = "relevance_labels"
    __table_args__ = (UniqueConstraint("conversation_id", "turn_position", "movie_id", "scorer",
                                       name="uq_relevance_labels_turn_movie_scorer"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    turn_position: Mapped[int] = mapped_column(Integer)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    scorer: Mapped[str] = mapped_column(String(255))
    score: Mapped[float] = mapped_column(Float)
    retrieval_rank: Mapped[int] = mapped_column(Integer)


# --- review and rating --------------------------------------------------------------------


class Reviewer(Base):
    __tablename__ = "reviewers"
    __table_args__ = (CheckConstraint("role in ('annotator', 'researcher', 'lead')", name="role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(255), unique=True)  # their Label Studio account, set by a lead
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id; None: cannot sign in to the app
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Response(Base):
    """A system response to be scored on the five rubrics."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("system", "conversation_id", "turn_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    turn_position: Mapped[int] = mapped_column(Integer)
    system: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)


def _initial_required(context: Any) -> int:
    return int(context.get_current_parameters().get("overlap") or 1)


class ReviewTask(Base):
    """A unit of human work: adjudicate a candidate or rate a response, by `overlap` reviewers."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        UniqueConstraint("kind", "candidate_id", "response_id"),
        CheckConstraint("kind in ('adjudication', 'rating')", name="kind"),
        Index("ix_review_tasks_queue", "kind", "status", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    overlap: Mapped[int] = mapped_column(Integer, default=1)  # verdicts asked for at first
    required: Mapped[int] = mapped_column(Integer, default=_initial_required)  # verdicts needed now (n + 1 after a tie)
    verdicts: Mapped[int] = mapped_column(Integer, default=0)  # verdicts (or distinct human raters) so far
    tied: Mapped[bool] = mapped_column(Boolean, default=False)  # a tie happened at some point
    decision: Mapped[str] = mapped_column(String(16), default="pending")  # db.decision.How
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    labelstudio_task_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskLock(Base):
    """An expiring claim of one task by one reviewer."""

    __tablename__ = "task_locks"
    __table_args__ = (UniqueConstraint("task_id", "reviewer_id"), Index("ix_task_locks_task_expires", "task_id", "expires_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TaskDecision(Base):
    """A change of an adjudication task's decision: who triggered it, when, from what to what."""

    __tablename__ = "task_decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))  # verdict | retract
    from_status: Mapped[str] = mapped_column(String(16))  # candidate status before
    to_status: Mapped[str] = mapped_column(String(16))
    from_task_status: Mapped[str] = mapped_column(String(16))
    to_task_status: Mapped[str] = mapped_column(String(16))
    accepts: Mapped[int] = mapped_column(Integer)
    rejects: Mapped[int] = mapped_column(Integer)
    how: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Review(Base):
    """A reviewer's verdict on an adjudication task. One per task and reviewer."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("task_id", "reviewer_id"),
        CheckConstraint("verdict in ('accept', 'reject', 'edit')", name="verdict"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text, default="")
    edited_turns: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="streamlit")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Rating(Base):
    """A 1-5 Likert score on one rubric, by a human reviewer or an LLM judge; a human may mark a rubric N/A."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("response_id", "rater", "rubric"),
        CheckConstraint("score is null or score between 1 and 5", name="score"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    rater: Mapped[str] = mapped_column(String(255))
    rater_kind: Mapped[str] = mapped_column(String(8))  # human | llm
    rubric: Mapped[str] = mapped_column(String(32))
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: N/A (the rubric does not apply)
    source: Mapped[str] = mapped_column(String(16), default="streamlit")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Draft(Base):
    """What a reviewer typed or chose on a task but has not saved (a reason, an edited dialogue, scores): restored
    after a reload or a new sign-in, deleted when the verdict or the ratings are stored."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("reviewer_id", "task_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccountEvent(Base):
    """An account disabled (active false) or enabled again, and when: annotations made elsewhere (Label Studio) while
    it was disabled are not taken, even after it is enabled again."""

    __tablename__ = "account_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatabaseIdentity(Base):
    """One row: this database's random id (db.queries.identity), written into every export's manifest, so an export
    is known as this database's by its id, never by a URL or a folder."""

    __tablename__ = "database_identity"
    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    uuid: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sync_secret: Mapped[str | None] = mapped_column(String(64))  # signs the tasks pushed to Label Studio; never shown


class LabelStudioImport(Base):
    """An import request sent to Label Studio whose reply has not been recorded (deleted in the transaction that
    records its ids). Its tasks carry `batch` in their data, so a later push finds them, or waits for them while
    Label Studio may still be storing them, instead of importing them twice."""

    __tablename__ = "labelstudio_imports"
    batch: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    task_ids: Mapped[list[int]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Guideline(Base):
    """The project's annotation guidelines, one row per version, written by a lead; each export names its version."""

    __tablename__ = "guidelines"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- export and training ------------------------------------------------------------------


class DatasetExport(Base):
    __tablename__ = "exports"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingRun(Base):
    __tablename__ = "training_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    model: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="running")
    device: Mapped[str] = mapped_column(String(32), default="cpu")
    checkpoint_path: Mapped[str | None] = mapped_column(String(1024))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunMetric(Base):
    __tablename__ = "run_metrics"
    __table_args__ = (UniqueConstraint("run_id", "split", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), index=True)
    split: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class RunExport(Base):
    """Lineage: an exported dataset (verified by sha256) that fed a training run."""

    __tablename__ = "run_exports"
    __table_args__ = (UniqueConstraint("run_id", "path"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), index=True)
    export_id: Mapped[int | None] = mapped_column(ForeignKey("exports.id", ondelete="SET NULL"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)


class SignInFailure(Base):
    """Failed sign-ins per attempted name (known or not, so the table tells nobody which names exist): after
    db.queries.accounts.FREE_ATTEMPTS failures each new attempt waits an exponentially growing back-off."""

    __tablename__ = "sign_in_failures"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser session: only the sha256 of its random token is stored."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
