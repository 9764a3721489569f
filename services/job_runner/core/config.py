"""Settings of the job-runner, from `JOB_RUNNER_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobRunnerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOB_RUNNER_", frozen=True)

    env: Literal["local", "dev", "prod"] = "local"
    spec_path: Path = Path("dayflow.yaml")
    # Default: the environment's gcp_project from the spec.
    gcp_project: str | None = None
    # Set locally to the emulator, e.g. http://127.0.0.1:9050; unset in GCP.
    bigquery_endpoint: str | None = None
    bigquery_location: str | None = None
    # Workflows: location defaults to the environment's region. Locally, the engine's gRPC
    # host:port (e.g. 127.0.0.1:9070); unset in GCP.
    workflows_location: str | None = None
    workflows_endpoint: str | None = None
    # Runs executing at once in this instance (a pool of their own, so that health checks and
    # reads never wait behind them). Infra sets it equal to the Cloud Run container concurrency.
    max_concurrent_runs: int = Field(default=10, ge=1, le=1000)
    # How long POST /runs (and a status poll) waits for the run to end before answering
    # 202 `running`: short jobs then finish in one call, which saves the workflow a poll
    # (3 billed steps). Far below Workflows' 1,800 s HTTP timeout.
    run_hold_seconds: float = Field(default=20.0, ge=0, le=300)
    # Tests only: a JSON file of failures to inject (see job_runner.domain.faults).
    faults_file: Path | None = None


@lru_cache
def get_settings() -> JobRunnerSettings:
    return JobRunnerSettings()
