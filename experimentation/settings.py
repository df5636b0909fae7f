"""One settings object for the whole process, read from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///splitrec.db"


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as SPLITREC_<NAME> or as below."""

    model_config = SettingsConfigDict(env_prefix="SPLITREC_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL"
    )
    """SQLAlchemy URL; SQLite file by default, PostgreSQL in production."""
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    """Redis for the recommendation cache; unset means an in-process cache."""
    data: Path | None = None
    """Where MovieLens 100K lives (SPLITREC_DATA); the demo falls back to
    ../shared/data/ml-100k and then to the GroupLens download."""
    cache_prefix: str = "splitrec"
    """Prefix of the Redis keys of the recommendation cache."""
    cache_ttl_seconds: int = 300
    """How long a served list may be reused while the user does nothing."""
    redis_timeout_seconds: float = 0.05
    """Past this, Redis counts as down and requests are served uncached."""
    default_k: int = 10
    max_k: int = 100
    event_queue: Literal["auto", "sync"] = "auto"
    """auto: events go through a queue (a Redis Stream with REDIS_URL, else in
    process) and a writer stores them; sync: stored within the request."""
    event_stream: str = "splitrec:events"
    """The Redis Stream the API appends events to (with REDIS_URL)."""
    event_claim_idle_seconds: float = 30.0
    """A batch a writer took but did not store within this long is taken over
    by another writer (the first one is presumed dead)."""
    start_event_writer: bool = True
    """Run an event writer thread inside each app process (off when separate
    `splitrec worker` processes do the writing)."""
    model_refresh_seconds: float = 300.0
    """How often popularity and neighbourhoods are rebuilt in the background;
    0 turns it off."""
    max_body_bytes: int = 2_000_000
    """Largest request body accepted; 413 beyond it."""
    max_batch_events: int = 1000
    """Largest number of events accepted in one POST /v1/events."""
    seed: int = 20261204
    """Seeds every random choice that is not part of a request (demo, bootstrap)."""

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_driver(cls, value: str) -> str:
        # psycopg 3 is the driver we install; plain postgresql:// would ask for
        # psycopg2, which is not there.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
