"""Annotation settings (LABELSTUDIO_ prefix for the Label Studio connection)."""
from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LabelStudioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABELSTUDIO_", env_file=".env", extra="ignore")

    url: str = "http://127.0.0.1:8080"
    api_key: SecretStr = SecretStr("")
    adjudication_project: str = "LumiCRS adjudication"
    rating_project: str = "LumiCRS rubric rating"
    batch_size: int = 200  # tasks per import request; each batch's ids are recorded in its own transaction
    timeout_seconds: float = 120.0


@lru_cache
def get_settings() -> LabelStudioSettings:
    return LabelStudioSettings()
