"""Settings of the job-runner, from `JOB_RUNNER_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dayflow.partition_bounds import DEFAULT_MAX_RANGE_PARTITIONS

# IAM member strings, as in an IAM policy binding.
_MEMBER_KINDS = ("user:", "group:", "serviceAccount:", "domain:")


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
    # Logs on stdout (dayflow.logs): Cloud Logging's JSON in GCP; readable lines locally, where
    # `dayflow local up` sets `text`.
    log_format: Literal["json", "text"] = "json"
    # Tests only: a JSON file of failures to inject (see job_runner.domain.faults).
    faults_file: Path | None = None
    # The accounts dbt and Dataform jobs act as in GCP (impersonated; the job-runner holds
    # Token Creator on each). Unset: they run as the job-runner. Ignored locally.
    dbt_service_account: str | None = None
    dataform_service_account: str | None = None
    # Caller checks (job_runner.api.callers): off locally; in GCP infra turns them on and names
    # who may call what. `operator_members` is a JSON list of IAM members, e.g.
    # ["user:a@x.com", "group:g@x.com", "serviceAccount:ops@p.iam.gserviceaccount.com"].
    check_callers: bool = False
    scheduler_service_account: str | None = None
    workflows_service_account: str | None = None
    operator_members: list[str] = []

    # The URL of each service that http jobs call, as JSON: {"fx_extractor": "https://..."}.
    # Infra looks each up by its Cloud Run name; locally `dayflow local up` serves them.
    service_urls: dict[str, str] = {}

    @field_validator("service_urls")
    @classmethod
    def _check_service_urls(cls, urls: dict[str, str]) -> dict[str, str]:
        for name, url in urls.items():
            if not url.startswith(("https://", "http://127.0.0.1:")):
                raise ValueError(
                    f"service {name!r} has URL {url!r} "
                    "(expected https://..., or http://127.0.0.1:PORT locally)"
                )
        return urls

    @field_validator("operator_members")
    @classmethod
    def _check_members(cls, members: list[str]) -> list[str]:
        for member in members:
            kind, _, name = member.partition(":")
            if f"{kind}:" not in _MEMBER_KINDS or not name:
                raise ValueError(
                    f"operator member {member!r} is not an IAM member "
                    f"(expected one of {', '.join(k + 'NAME' for k in _MEMBER_KINDS)})"
                )
        return members

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
