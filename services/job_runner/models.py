"""Request and response bodies of the job-runner's HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dayflow.spec import Name


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: Name
    job: Name
    partition_key: str = Field(max_length=13)
    # Omitted: the next attempt after the ledger's newest. A retried request with the same
    # attempt reuses the same BigQuery job and never runs the work twice.
    attempt: int | None = Field(default=None, ge=1, le=10_000)
    backfill_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,100}$")


class RunPublic(BaseModel):
    pipeline: str
    job: str
    partition_key: str
    attempt: int
    status: str
    rows_written: int
    bytes_processed: int
    duration_seconds: float
    bigquery_job_id: str | None


class PartitionPlanPublic(BaseModel):
    partition_key: str
    waves: list[list[str]]


class PlanPublic(BaseModel):
    pipeline: str
    order: str
    only: str
    num_partitions: int
    num_partition_jobs: int
    partitions: list[PartitionPlanPublic]


class JobStatePublic(BaseModel):
    status: str
    attempt: int
    error: str | None = None
    rows_written: int | None = None


class PartitionStatusPublic(BaseModel):
    partition_key: str
    jobs: dict[str, JobStatePublic]


class StatusPublic(BaseModel):
    pipeline: str
    jobs: list[str]
    partitions: list[PartitionStatusPublic]


class TableChecksumPublic(BaseModel):
    table: str
    rows: int
    fingerprint: str


class PartitionChecksumPublic(BaseModel):
    partition_key: str
    tables: list[TableChecksumPublic]


class ChecksumsPublic(BaseModel):
    pipeline: str
    partitions: list[PartitionChecksumPublic]
