"""One settings object per process, read from the environment, with safe local defaults.

Build it once at the entrypoint (`Settings()`) and pass it down; nothing else reads the
environment.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    # SQLite file for the embedded default; postgresql+psycopg://... in production.
    database_url: str = "sqlite:///build/placement.db"
    # Empty: start the embedded broker on loopback. Otherwise a comma-separated list.
    kafka_bootstrap_servers: str = ""
    topic_prefix: str = "placement."
    topic_partitions: Annotated[int, Field(ge=1, le=1024)] = 4
    topic_replication: Annotated[int, Field(ge=1, le=5)] = 1
    # The worker's consumer group: a member silent this long is presumed dead and its
    # partitions move to the others. Short in tests (the embedded broker's joins take about as
    # long as this), longer in production so a busy worker is not evicted.
    worker_session_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    # How often consumed offsets are committed; a crash replays at most this much, and the
    # replay has no effect (consumers are idempotent).
    worker_commit_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    # Where `placement up` and `placement api` serve the HTTP API and dashboard (127.0.0.1);
    # 0 for any free port.
    api_port: Annotated[int, Field(ge=0, le=65535)] = 0

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap_servers.strip()

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"
