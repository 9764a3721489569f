"""Path and query parameters shared by routes, with the patterns and bounds OpenAPI shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from dayflow.partition_bounds import PARTITION_KEY_PATTERN
from job_runner.models import BACKFILL_ID_PATTERN

_BOUND = (
    "YYYY-MM-DD (daily) or YYYY-MM-DDTHH (hourly), inclusive; between the pipeline's start and "
    "the partition containing now. A range covers at most JOB_RUNNER_MAX_RANGE_PARTITIONS "
    "partitions (default 3,700: ten years of days)"
)
_NAME = r"^[a-z][a-z0-9_]{0,39}$"

_KEY = {"pattern": PARTITION_KEY_PATTERN, "max_length": 13}
_PIPELINE = {"pattern": _NAME, "description": "a pipeline of the spec", "examples": ["shop_daily"]}

StartQuery = Annotated[
    str, Query(**_KEY, description="first key; " + _BOUND, examples=["2024-01-01"])
]
EndQuery = Annotated[str, Query(**_KEY, description="last key; " + _BOUND, examples=["2024-01-03"])]
PipelinePath = Annotated[str, Path(**_PIPELINE)]
PipelineQuery = Annotated[str, Query(**_PIPELINE)]
BackfillIdPath = Annotated[
    str, Path(pattern=BACKFILL_ID_PATTERN, description="as POST /backfills returned it")
]
