"""Settings of the job-runner, from `JOB_RUNNER_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dayflow.partition_bounds import DEFAULT_MAX_RANGE_PARTITIONS


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
    # Tests only: a JSON file of failures to inject (see job_runner.domain.faults).
    faults_file: Path | None = None

    # --- request bounds (h5, issue 10): safe defaults, infra need not set them ---------------
    # Partitions one range request may cover (plan, GET /runs, POST /backfills): the default
    # covers a 10-year daily backfill.
    max_range_partitions: int = Field(default=DEFAULT_MAX_RANGE_PARTITIONS, ge=1)
    # Partitions one GET checksums may cover (one BigQuery query either way; this bounds the
    # rows it returns and the bytes it scans).
    max_checksum_partitions: int = Field(default=DEFAULT_MAX_RANGE_PARTITIONS, ge=1)
    # Request bodies larger than this get 413 (the largest valid body, a backfill of 1,000
    # partition keys, is about 20 KB).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


@lru_cache
def get_settings() -> JobRunnerSettings:
    return JobRunnerSettings()
