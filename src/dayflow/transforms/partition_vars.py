"""The vars a dbt or Dataform run receives for one partition, and how they are validated.

Every run gets `partition_key`, `partition_start` and `partition_end` (the partition's half-open
UTC bounds, RFC 3339 with a `Z`), `dataset_prefix` (the environment's dataset naming), and the
job's own `vars` from the spec. Values end up inside SQL literals and on command lines, so they
are checked here, once, before any tool runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dayflow.errors import TransformError
from dayflow.spec import RESERVED_TRANSFORM_VARS

if TYPE_CHECKING:
    from dayflow.partitions import PartitionScheme

_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2})?$")
_PREFIX = re.compile(r"^[A-Za-z0-9_]*$")

VarValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class PartitionVars:
    """One partition as a transform sees it: its key and its half-open UTC bounds."""

    partition_key: str
    partition_start: datetime
    partition_end: datetime

    def __post_init__(self) -> None:
        if not _KEY.match(self.partition_key):
            raise TransformError(
                f"partition_key {self.partition_key!r} is not a partition key "
                "(expected YYYY-MM-DD or YYYY-MM-DDTHH)"
            )
        for name in ("partition_start", "partition_end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                raise TransformError(
                    f"{name} {value.isoformat()} has no timezone (expected an aware UTC time)"
                )
        if self.partition_start >= self.partition_end:
            raise TransformError(
                f"partition {self.partition_key!r}: start {self.partition_start.isoformat()} "
                f"is not before end {self.partition_end.isoformat()}"
            )

    @classmethod
    def for_partition(cls, scheme: PartitionScheme, partition_key: str) -> PartitionVars:
        """The vars of `partition_key` in a pipeline's partition scheme."""
        try:
            start, end = scheme.get_partition_bounds(partition_key)
        except ValueError as err:
            raise TransformError(str(err)) from err
        return cls(partition_key, start, end)

    def to_vars(self) -> dict[str, str]:
        return {
            "partition_key": self.partition_key,
            "partition_start": _rfc3339(self.partition_start),
            "partition_end": _rfc3339(self.partition_end),
        }


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_vars(
    partition: PartitionVars, dataset_prefix: str, extra: dict[str, VarValue]
) -> dict[str, VarValue]:
    """The full vars of one run: the partition's, `dataset_prefix`, then the job's own."""
    if not _PREFIX.match(dataset_prefix):
        raise TransformError(
            f"dataset_prefix {dataset_prefix!r} is not valid "
            "(expected letters, digits and underscores)"
        )
    reserved = sorted(set(extra) & set(RESERVED_TRANSFORM_VARS))
    if reserved:
        raise TransformError(
            f"vars {', '.join(map(repr, reserved))} are set by dayflow for each partition "
            "(expected other names)"
        )
    return {**partition.to_vars(), "dataset_prefix": dataset_prefix, **extra}
