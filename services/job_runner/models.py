"""Request and response bodies of the job-runner's HTTP API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dayflow.spec import Name


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: Name
    job: Name
    partition_key: str = Field(max_length=13)
    # Omitted: the next attempt after the ledger's newest. A retried request with the same
    # attempt attaches to it (and reuses its BigQuery job): the work never runs twice.
    attempt: int | None = Field(default=None, ge=1, le=10_000)
    backfill_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,100}$")
    # Idempotency key (Workflows sends its execution id): a retried request with the same key
    # attaches to the attempt it started, unless that one failed transiently or went stale.
    request_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,200}$")


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


class BackfillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline: Name
    start: str | None = Field(default=None, max_length=13)
    end: str | None = Field(default=None, max_length=13)
    # An explicit list instead of a range (at most 1,000: Workflows arguments are <= 32 KB).
    partition_keys: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    order: Literal["asc", "desc"] = "asc"
    only: Literal["all", "failed", "missing"] = "all"
    concurrency: int = Field(default=4, ge=1, le=20)
    dry_run: bool = False

    @model_validator(mode="after")
    def _range_or_keys(self) -> BackfillCreate:
        has_range = self.start is not None and self.end is not None
        if has_range == (self.partition_keys is not None):
            raise ValueError("expected either start and end, or partition_keys")
        return self


class BackfillPublic(BaseModel):
    backfill_id: str | None
    execution: str | None
    dry_run: bool
    num_partitions: int
    num_partition_jobs: int
    estimated_workflow_steps: int
    estimated_workflow_cost_usd: float
    estimated_bytes_processed: int | None
    partitions: list[PartitionPlanPublic]


class BackfillProgressPublic(BaseModel):
    backfill_id: str
    partitions: int
    succeeded: int
    failed: int
    running: int
    failed_keys: list[str]


class TriggerPublic(BaseModel):
    pipeline: str
    schedule_time: str
    partition_key: str
    duplicate: bool
    execution: str | None
    catch_up_execution: str | None
