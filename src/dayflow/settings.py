"""Settings of the `dayflow` CLI, from `DAYFLOW_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class DayflowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAYFLOW_", frozen=True)

    spec: Path = Path("dayflow.yaml")
    env: Literal["local", "dev", "prod"] = "local"
    # Where the local stack keeps its data, logs and pid files.
    state_dir: Path = Path(".dayflow")
    # The job-runner's URL; locally it is read from the running stack.
    job_runner_url: str | None = None
    # Workflows: location defaults to the environment's region; the endpoint (gRPC host:port)
    # is the local engine's, read from the running stack, or GCP's when unset in dev/prod.
    workflows_location: str | None = None
    workflows_endpoint: str | None = None
    # The service account to impersonate when calling a deployed job-runner (overrides the
    # environment's `impersonate_service_account`; `--impersonate-service-account` overrides it).
    impersonate_service_account: str | None = None


@lru_cache
def get_settings() -> DayflowSettings:
    return DayflowSettings()
