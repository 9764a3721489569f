"""The grid as values (job_runner.ui.views): pure functions, no server."""

from __future__ import annotations

from datetime import UTC, datetime

from dayflow.ledger import RunState
from dayflow.partition_bounds import get_default_range
from dayflow.partitions import PartitionScheme
from job_runner.ui.views import build_grid, format_bytes, format_seconds

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def state(key: str, job: str, status: str, attempt: int = 1) -> RunState:
    return RunState(key, job, status, attempt, None, 10, None, NOW, duration_seconds=2.0)  # type: ignore[arg-type]


def test_a_job_never_run_is_missing_and_an_unknown_status_is_drawn_neutrally() -> None:
    states = [state("2024-03-02", "a", "succeeded"), state("2024-03-02", "b", "paused", 2)]
    grid = build_grid("p", ["a", "b", "c"], ["2024-03-02", "2024-03-01"], states)

    assert [[c.status for c in row.cells] for row in grid.rows] == [
        ["succeeded", "paused", "missing"], ["missing", "missing", "missing"]]  # fmt: skip
    assert [c.css_class for c in grid.rows[0].cells] == ["s-succeeded", "s-other", "s-missing"]
    assert grid.rows[0].cells[1].summary == "a2 · 10 rows · 2.0 s"
    assert grid.count("missing") == 4


def test_failed_and_stale_cells_link_to_their_run_and_name_their_partition() -> None:
    states = [state("2024-03-02", "a", "failed"), state("2024-03-01", "a", "stale"),
              state("2024-03-03", "a", "waiting")]  # fmt: skip
    grid = build_grid("p", ["a"], ["2024-03-03", "2024-03-02", "2024-03-01"], states)

    assert [row.cells[0].is_linked for row in grid.rows] == [False, True, True]
    assert grid.failed_keys == ["2024-03-02", "2024-03-01"]
    assert grid.rows[0].cells[0].css_class == "s-waiting"


def test_the_default_range_is_the_newest_week_or_day_not_before_the_start() -> None:
    daily, hourly = PartitionScheme("day", "UTC"), PartitionScheme("hour", "UTC")
    assert get_default_range(daily, NOW, "2024-01-01") == ("2024-03-04", "2024-03-10")
    assert get_default_range(daily, NOW, "2024-03-08") == ("2024-03-08", "2024-03-10")
    assert get_default_range(hourly, NOW, "2024-01-01") == ("2024-03-09T13", "2024-03-10T12")
    assert get_default_range(hourly, NOW, "2024-03-10") == ("2024-03-10T00", "2024-03-10T12")


def test_durations_and_bytes_read_at_a_glance() -> None:
    assert [format_seconds(s) for s in (0.42, 12, 185, 7440)] == ["0.4 s", "12 s", "3m 5s", "2h 4m"]
    assert [format_bytes(b) for b in (None, 512, 1_234_567, 3 * 10**12)] == [
        "unknown", "512 B", "1.2 MB", "3.0 TB"]  # fmt: skip


def test_a_caller_who_may_not_start_backfills_sees_no_re_run_button() -> None:
    from job_runner.ui.routes import _get_templates
    from job_runner.ui.views import KNOWN_STATUSES

    grid = build_grid("p", ["a"], ["2024-03-02"], [state("2024-03-02", "a", "failed")])
    template = _get_templates().get_template("grid.html")

    def render(may_start: bool) -> str:
        return template.render(grid=grid, may_start=may_start, statuses=sorted(KNOWN_STATUSES))

    assert 'id="rerun-failed"' in render(True)
    read_only = render(False)
    assert 'id="rerun-failed"' not in read_only and "read-only" in read_only
