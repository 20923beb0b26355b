"""Augmentation settings (AUGMENT_ prefix; OPENAI_BASE_URL / OPENAI_API_KEY are honoured too)."""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AugmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUGMENT_", env_file=".env", extra="ignore")

    base_url: str | None = Field(default=None, validation_alias=AliasChoices("AUGMENT_BASE_URL", "OPENAI_BASE_URL"))
    api_key: SecretStr = Field(default=SecretStr("not-needed"),
                               validation_alias=AliasChoices("AUGMENT_API_KEY", "OPENAI_API_KEY"))
    model: str = "gpt-4o-mini"
    temperature: float = 0.7  # LumiCRS Sec. 6: the best augmentation temperature T
    max_tokens: int = 1024
    judges: list[str] = Field(default_factory=lambda: ["judge-1", "judge-2", "judge-3", "judge-4", "judge-5"])
    judge_base_url: str | None = None
    judge_temperature: float = 0.0
    concurrency: int = 4
    max_retries: int = Field(default=4, ge=0)  # the openai client's retries (Retry-After honoured)
    timeout_seconds: float = Field(default=60.0, gt=0)  # per attempt, per read
    deadline_seconds: float = Field(default=180.0, gt=0)  # the whole call: retries and slow bodies included
    structured: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    fold_system: bool | None = None  # None: fold system prompts when the server is llama.cpp's
    tail_dialogues: tuple[int, int] = (8, 10)
    body_dialogues: tuple[int, int] = (4, 5)
    duplicate_threshold: float = 0.85
    support_k: int = 5
    w_semantic: float = 0.4
    w_emotional: float = 0.2
    w_overlap: float = 0.2
    w_interaction: float = 0.2
    interaction_alpha: float = 1.0  # the paper's interaction sigmoid slope
    accept_min_votes: int = 4
    review_min_votes: int = 2
    judge_min_score: int = 3
    review_overlap: int = 1
    route_policy: Literal["votes", "posterior"] = "votes"  # augment.routing: the paper's rule until verdicts exist
    route_precision: float = Field(default=0.95, gt=0.5, lt=1.0)  # the posterior policy's stated precision
    route_audit: float = Field(default=0.02, ge=0.0, le=1.0)  # share of sure candidates sent to review anyway
    writer_engine: Literal["auto", "llama.cpp", "transformers"] = "auto"  # auto: llama.cpp when installed
    writer_tries: int = Field(default=3, ge=1)  # samples per dialogue until one is accepted (writer_checks)
    # accepted: the recommender names the target and (on) the try passes the reviewer's first checks
    writer_checks: bool = True
    writer_threads: int | None = Field(default=None, ge=1)  # llama.cpp threads; None: every core
    writer_batch: int = Field(default=32, ge=1)  # dialogues written at once (augment/writer_batch.py); 1: one at a time

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> AugmentSettings:
        total = self.w_semantic + self.w_emotional + self.w_overlap + self.w_interaction
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"similarity weights must sum to 1, got {total:.3f}")
        return self


@lru_cache
def get_settings() -> AugmentSettings:
    return AugmentSettings()
