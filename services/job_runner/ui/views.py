"""What the status page shows, as plain values built from ledger states (no FastAPI, no HTML).

Kept apart from the routes so that the grid can be built and measured without a server
(bench/ui.py) and tested as a pure function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dayflow.ledger import RunState

# Statuses the page has a colour for; any other (a status added later) is drawn neutrally.
KNOWN_STATUSES = frozenset(
    {"succeeded", "failed", "running", "queued", "stale", "missing", "waiting"}
)
# Statuses whose cell links to the run page (its error, its attempts).
LINKED_STATUSES = frozenset({"failed", "stale"})


@dataclass(frozen=True)
class Cell:
    """One (partition, job) of the grid."""

    job: str
    status: str
    attempt: int | None = None
    rows_written: int | None = None
    duration_seconds: float | None = None
    error: str | None = None

    @property
    def css_class(self) -> str:
        return f"s-{self.status}" if self.status in KNOWN_STATUSES else "s-other"

    @property
    def is_linked(self) -> bool:
        return self.status in LINKED_STATUSES

    @property
    def summary(self) -> str:
        """`a2 · 1,204 rows · 3.1 s`: attempt, rows and duration, whichever are known."""
        parts = []
        if self.attempt is not None:
            parts.append(f"a{self.attempt}")
        if self.rows_written is not None:
            parts.append(f"{self.rows_written:,} rows")
        if self.duration_seconds is not None:
            parts.append(format_seconds(self.duration_seconds))
        return " · ".join(parts)


@dataclass(frozen=True)
class Row:
    partition_key: str
    cells: list[Cell]

    @property
    def has_failed(self) -> bool:
        return any(c.status in LINKED_STATUSES for c in self.cells)


@dataclass(frozen=True)
class Grid:
    pipeline: str
    jobs: list[str]
    rows: list[Row]

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows for c in row.cells if c.status == status)

    @property
    def failed_keys(self) -> list[str]:
        return [row.partition_key for row in self.rows if row.has_failed]


def build_grid(pipeline: str, jobs: list[str], keys: list[str], states: Iterable[RunState]) -> Grid:
    """Partitions (`keys`, newest first as given) x `jobs`; a job never run is `missing`."""
    by_key: dict[str, dict[str, RunState]] = {key: {} for key in keys}
    for state in states:
        if state.partition_key in by_key:
            by_key[state.partition_key][state.job] = state
    rows = []
    for key in keys:
        found = by_key[key]
        cells = []
        for job in jobs:
            s = found.get(job)
            if s is None:
                cells.append(Cell(job, "missing"))
            else:
                cells.append(
                    Cell(job, s.status, s.attempt, s.rows_written, s.duration_seconds, s.error)
                )
        rows.append(Row(key, cells))
    return Grid(pipeline, jobs, rows)


def format_seconds(seconds: float) -> str:
    """`0.4 s`, `12 s`, `3m 5s`, `2h 4m`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    return f"{whole // 3600}h {whole % 3600 // 60}m"


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def format_bytes(value: int | None) -> str:
    """`1.2 GB` (decimal units, as BigQuery bills), or `unknown`."""
    if value is None:
        return "unknown"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
