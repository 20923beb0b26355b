"""Settings owned by the db package: the single unprefixed DATABASE_URL and the data directory."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///./app.db", alias="DATABASE_URL")
    data_dir: Path = Field(default=REPO_ROOT.parent / "shared" / "data", alias="LUMICRS_DATA_DIR")
    head_min_mentions: int = Field(default=6, alias="LUMICRS_HEAD_MIN")
    tail_max_mentions: int = Field(default=1, alias="LUMICRS_TAIL_MAX")
    queue_order: Literal["oldest", "contested", "uncertain"] = Field(default="oldest", alias="LUMICRS_QUEUE_ORDER")
    export_dir: Path = Field(default=Path("exports"), alias="LUMICRS_EXPORT_DIR")
    # how long a claimed task stays claimed without the page's heartbeat (renewed every quarter of it)
    claim_seconds: int = Field(default=120, ge=4, le=3600, alias="LUMICRS_CLAIM_SECONDS")


@lru_cache
def get_settings() -> DatabaseSettings:
    return DatabaseSettings()
