"""Request and response bodies of the job-runner's HTTP API, and its documented errors.

Request bodies are strict: `attempt: true` or `concurrency: "4"` is a 422, never coerced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from dayflow.backfill_plan import MAX_CHUNK_PARTITIONS, MAX_CONCURRENCY
from dayflow.partition_bounds import PARTITION_KEY_PATTERN
from dayflow.spec import Name

# A partition key (`YYYY-MM-DD`, or `YYYY-MM-DDTHH` for hourly pipelines) or a range bound.
PartitionKey = Annotated[
    str,
    Field(
        pattern=PARTITION_KEY_PATTERN,
        max_length=13,
        description="YYYY-MM-DD (daily) or YYYY-MM-DDTHH (hourly), local to the pipeline's "
        "timezone; between the pipeline's start and the partition containing now",
    ),
]
BACKFILL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"


class UpstreamPartitionPublic(BaseModel):
    pipeline: str
    job: str
    partition_key: str
    status: str = Field(description="its newest ledger status, or `never ran`")


class ErrorPublic(BaseModel):
    """Every error the job-runner answers (400, 404, 405, 409, 413, 422, 500, 503)."""

    detail: str = Field(description="one line: the bad value and what was expected")
    error_kind: Literal["permanent", "transient", "internal", "waiting"] = Field(
        description="transient: retrying the same request may succeed; permanent: it will not; "
        "waiting (409): the run did not start, its upstream partitions in other pipelines have "
        "not all succeeded (recorded `waiting`, not failed): POST again after `retry_after`"
    )
    request_id: str = Field(description="also the X-Request-ID response header")
    # error_kind `waiting` only.
    run_id: str | None = Field(default=None, description="waiting: the run that waits")
    missing: list[UpstreamPartitionPublic] | None = Field(
        default=None, description="waiting: each upstream partition that has not succeeded"
    )
    retry_after: int | None = Field(
        default=None, description="waiting: seconds until a new POST is worth making"
    )


_ERROR_DESCRIPTIONS = {
    400: "The request body is not JSON",
    404: "Unknown pipeline, job or backfill",
    409: "The run waits for upstream partitions of other pipelines (error_kind waiting): it is "
    "recorded waiting, not failed; POST again after retry_after",
    413: "The request body is larger than the cap (JOB_RUNNER_MAX_BODY_BYTES)",
    422: "Bad input: a malformed value, a key outside the pipeline's bounds, a range longer "
    "than the cap, or a permanent BigQuery error",
    500: "Unexpected error; the log has it under the request id",
    503: "BigQuery or Workflows is unavailable for now; retry after Retry-After seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the given error status codes, all with the ErrorPublic body."""
    return {
        code: {"model": ErrorPublic, "description": _ERROR_DESCRIPTIONS[code]} for code in codes
    }


ERROR_RESPONSES = error_responses(500)


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    pipeline: Name
    job: Name
    partition_key: PartitionKey
    # Omitted: the next attempt after the ledger's newest. A retried request with the same
    # attempt attaches to it (and reuses its BigQuery job): the work never runs twice.
    attempt: int | None = Field(default=None, ge=1, le=10_000)
    backfill_id: str | None = Field(default=None, pattern=BACKFILL_ID_PATTERN)
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


# Optional fields of backfill bodies: absent, never null.
_OPTIONAL = ("start", "end", "partition_keys", "chunk_size", "job_seconds", "backfill_id")


class BackfillCreate(BaseModel):
    """Either `start` and `end` (an inclusive range), or `partition_keys`: the schema says so
    with `oneOf`, and a body with only `pipeline` is a 422."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "oneOf": [
                {"required": ["start", "end"], "not": {"required": ["partition_keys"]}},
                {
                    "required": ["partition_keys"],
                    "not": {"anyOf": [{"required": ["start"]}, {"required": ["end"]}]},
                },
            ]
        },
    )

    pipeline: Name
    # Absent, never null (SkipJsonSchema keeps null out of the schema; `_no_nulls` refuses it).
    start: PartitionKey | SkipJsonSchema[None] = None
    end: PartitionKey | SkipJsonSchema[None] = None
    # An explicit list instead of a range (at most 1,000: Workflows arguments are <= 32 KB).
    partition_keys: (
        Annotated[list[PartitionKey], Field(min_length=1, max_length=1000)] | SkipJsonSchema[None]
    ) = None
    order: Literal["asc", "desc"] = "asc"
    only: Literal["all", "failed", "missing"] = "all"
    # Across parallel child executions of at most 20 each (dayflow.backfill_plan).
    concurrency: int = Field(default=4, ge=1, le=MAX_CONCURRENCY)
    dry_run: bool = False
    # Partitions per child execution (default: equal chunks of at most 5,000 partition-jobs,
    # as few per lane as that allows).
    # (Absent, never null: `_no_nulls` refuses null before these constraints see it.)
    chunk_size: int | SkipJsonSchema[None] = Field(default=None, ge=1, le=MAX_CHUNK_PARTITIONS)
    # For a dry run's expected wall time: how long each job takes, in seconds.
    job_seconds: float | SkipJsonSchema[None] = Field(default=None, gt=0, le=86_400)
    # First backfill the upstream pipelines (other pipelines the jobs depend on) over the
    # partitions this range needs, upstream first (job_runner.domain.upstream_backfills).
    include_upstream: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [k for k in _OPTIONAL if k in data and data[k] is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: expected a value, not null (or omit it)")
        return data

    @model_validator(mode="after")
    def _range_or_keys(self) -> BackfillCreate:
        has_range = self.start is not None and self.end is not None
        has_part = self.start is not None or self.end is not None
        has_keys = self.partition_keys is not None
        if has_keys == has_range or (has_keys and has_part):
            raise ValueError("expected either start and end, or partition_keys")
        return self


class BackfillPlanCreate(BackfillCreate):
    """What `backfill` and each `backfill_chunk` execution ask POST /backfills/plan: a
    backfill's arguments (validated as POST /backfills validates them), and for a chunk
    `waves: true` to list each partition's job waves."""

    backfill_id: str | SkipJsonSchema[None] = Field(default=None, pattern=BACKFILL_ID_PATTERN)
    waves: bool = False


class EdgePublic(BaseModel):
    """A job's dependency on a job of another pipeline, by partition mapping."""

    job: str
    upstream_pipeline: str
    upstream_job: str
    mapping: str
    window: int | None


class UpstreamStagePublic(BaseModel):
    """An upstream pipeline's backfill that runs before the pipeline's own (include_upstream):
    the `backfill` arguments of its child execution."""

    pipeline: str
    start: str
    end: str
    order: str
    only: str
    concurrency: int
    backfill_id: str | SkipJsonSchema[None] = None


class ChunkPublic(BaseModel):
    name: str = Field(description="its first and last partition key, and its partitions")
    # The chunk's own POST /backfills/plan body (with `waves: true`): a key range or key list.
    request: dict[str, Any]
    partitions: int
    partition_jobs: int


class LanePublic(BaseModel):
    concurrency: int
    chunks: list[ChunkPublic]


class BackfillSummaryPublic(BaseModel):
    """What a backfill's result shares with its plan (key lists: at most 100 keys)."""

    pipeline: str
    order: str
    only: str
    chunks: int
    partitions: int
    partition_jobs: int
    skipped: int
    skipped_keys: list[str]


class BackfillPlanPublic(BaseModel):
    backfill_id: str | None
    dry_run: bool
    summary: BackfillSummaryPublic
    planned_keys: list[str] = Field(description="the first 100 partitions, in run order")
    estimated_steps: int = Field(description="billed Workflows steps without failures or polls")
    expected_seconds: float | None = Field(description="wall time if each job takes job_seconds")
    lanes: list[LanePublic] = Field(description="child executions that run side by side")
    partition_plans: list[PartitionPlanPublic] | None = Field(description="with waves: true")
    edges: list[EdgePublic] = Field(description="the jobs' dependencies on other pipelines")
    upstream: list[dict[str, Any]] = Field(
        description="with include_upstream: each upstream stage's `backfill` arguments "
        "(UpstreamStagePublic), in run order"
    )


class BackfillPublic(BaseModel):
    backfill_id: str | None
    execution: str | None
    dry_run: bool
    num_partitions: int
    num_partition_jobs: int
    num_chunks: int
    num_lanes: int
    skipped: int
    expected_seconds: float | None
    estimated_workflow_steps: int
    estimated_workflow_cost_usd: float
    estimated_bytes_processed: int | None
    partitions: list[PartitionPlanPublic]
    edges: list[EdgePublic] = Field(description="the jobs' dependencies on other pipelines")
    upstream: list[UpstreamStagePublic] = Field(
        description="with include_upstream: the upstream backfills that run first, in order"
    )


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


class FreshnessPublic(BaseModel):
    """One pipeline's freshness (dayflow.freshness): `stale` is null without a declared limit."""

    pipeline: str
    checked_at: datetime
    limit_seconds: int | None
    newest_partition_key: str | None
    newest_partition_end: datetime | None
    age_seconds: int | None
    stale: bool | None
    summary: str


class FreshnessListPublic(BaseModel):
    pipelines: list[FreshnessPublic]
