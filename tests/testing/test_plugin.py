"""The pytest plugin `dayflow.testing.plugin`, driven through `pytester` on a tiny project of its
own: pytest sessions in subprocesses, as a project that installed dayflow runs its tests."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.local.process import is_port_open

SERVICES = ("bigquery", "job_runner", "workflows")
URL_KEYS = ("bigquery_endpoint", "job_runner_url", "workflows_url")
# pytester points HOME at its temp dir; the BigQuery emulator loads DuckDB's extensions from the
# real one (~/.duckdb, see shared/LOCAL_STACK.md), as it does in a project's own test session.
HOME = os.environ.get("HOME", "")

SPEC: dict[str, Any] = {
    "version": 1,
    "name": "tiny",
    "environments": {
        "local": {"gcp_project": "local"},
        "dev": {"gcp_project": "tiny-dev"},
        "prod": {"gcp_project": "tiny-prod"},
    },
    "sources": {
        "raw": {
            "description": "meter readings",
            "tables": {
                "readings": {
                    "columns": {"meter_id": "STRING", "kwh": "FLOAT64", "read_at": "TIMESTAMP"},
                    "seed": "seed/readings.jsonl",
                }
            },
        }
    },
    "pipelines": {
        "daily": {
            "granularity": "day",
            "timezone": "UTC",
            "schedule": "0 2 * * *",
            "start": "2024-01-01",
            "jobs": {
                "usage": {
                    "kind": "bigquery_sql",
                    "sql": "sql/usage.sql",
                    "destination": {"dataset": "mart", "table": "usage", "partition_field": "day"},
                }
            },
        },
        # Its first job's SQL names a column that does not exist: a permanent failure.
        "broken": {
            "granularity": "day",
            "timezone": "UTC",
            "schedule": "0 3 * * *",
            "start": "2024-01-01",
            "jobs": {
                "bad": {
                    "kind": "bigquery_sql",
                    "sql": "sql/bad.sql",
                    "destination": {"dataset": "mart", "table": "bad", "partition_field": "day"},
                },
                "after_bad": {
                    "kind": "bigquery_sql",
                    "sql": "sql/usage.sql",
                    "depends_on": ["bad"],
                    "destination": {"dataset": "mart", "table": "after", "partition_field": "day"},
                },
            },
        },
    },
}

USAGE_SQL = """\
SELECT @partition_date AS day, meter_id, SUM(kwh) AS kwh
FROM raw.readings
WHERE read_at >= @partition_start AND read_at < @partition_end
GROUP BY meter_id
"""
BAD_SQL = """\
SELECT @partition_date AS day, no_such_column
FROM raw.readings
WHERE read_at >= @partition_start AND read_at < @partition_end
"""
SEED = [
    {"meter_id": "m1", "kwh": 1.5, "read_at": "2024-01-01T01:00:00Z"},
    {"meter_id": "m1", "kwh": 2.0, "read_at": "2024-01-01T13:00:00Z"},
    {"meter_id": "m2", "kwh": 0.5, "read_at": "2024-01-01T07:00:00Z"},
    {"meter_id": "m1", "kwh": 1.0, "read_at": "2024-01-02T04:00:00Z"},
]

# The project's tests. Each records the stack it saw in seen.jsonl (beside the tests): the
# outer test checks that one stack served them all, and that it is gone after the session.
PROJECT_TESTS = """
import json
from datetime import UTC, datetime
from pathlib import Path

from dayflow.local.process import get_process

SERVICES = ("bigquery", "job_runner", "workflows")


def record(project):
    pids = {name: get_process(name, project.state_dir).pid for name in SERVICES}
    seen = {"state_dir": str(project.state_dir), "urls": project.urls, "pids": pids}
    with (Path(__file__).parent / "seen.jsonl").open("a") as f:
        f.write(json.dumps(seen) + "\\n")


def test_seed_run_rerun_and_read(dayflow_project):
    record(dayflow_project)
    assert dayflow_project.seed() == {"raw.readings": 4}
    records = dayflow_project.run("daily", "2024-01-01")
    assert [(r["job"], r["status"], r["rows_written"]) for r in records] == [("usage", "succeeded", 2)]
    dayflow_project.assert_succeeded("daily", "2024-01-01")
    once = dayflow_project.checksum("daily", "2024-01-01")
    assert once["2024-01-01"]["mart.usage"][0] == 2
    dayflow_project.run("daily", "2024-01-01", job="usage")
    assert dayflow_project.checksum("daily", "2024-01-01") == once
    runs = dayflow_project.get_runs("daily", "2024-01-01")
    assert [(r["job"], r["status"], r["attempt"]) for r in runs] == [("usage", "succeeded", 2)]
    rows = sorted(dayflow_project.read_table("mart", "usage"), key=lambda r: r["meter_id"])
    assert [(r["meter_id"], r["kwh"]) for r in rows] == [("m1", 3.5), ("m2", 0.5)]


def test_load_rows_then_backfill(dayflow_project):
    record(dayflow_project)
    rows = [
        {"meter_id": "m3", "kwh": 4.0, "read_at": datetime(2024, 1, 3, 5, tzinfo=UTC)},
        {"meter_id": "m4", "kwh": 1.0, "read_at": "2024-01-03T06:00:00Z"},
        {"meter_id": "m4", "kwh": 2.0, "read_at": "2024-01-02T06:00:00Z"},
    ]
    assert dayflow_project.load_rows("raw.readings", rows) == 3
    assert len(dayflow_project.read_table("raw", "readings")) == 3
    summary = dayflow_project.backfill("daily", "2024-01-02", "2024-01-03")
    assert (summary["partitions"], summary["succeeded"], summary["failed"]) == (2, 2, 0)
    assert summary["backfill_id"].startswith("bf-daily-")
    dayflow_project.assert_succeeded("daily", "2024-01-01", "2024-01-03")
    counts = {k: t["mart.usage"][0] for k, t in dayflow_project.checksum("daily", "2024-01-01", "2024-01-03").items()}
    assert counts == {"2024-01-01": 2, "2024-01-02": 1, "2024-01-03": 2}
    assert dayflow_project.load_rows("raw.readings", rows[:1], append=True) == 4


def test_failing_pipeline(dayflow_project):
    record(dayflow_project)
    records = dayflow_project.run("broken", "2024-01-01")
    assert [(r["job"], r["status"]) for r in records] == [("bad", "failed")]
    dayflow_project.assert_succeeded("broken", "2024-01-01")


def test_unknown_pipeline(dayflow_project):
    dayflow_project.run("nope", "2024-01-01")


def test_bad_partition_key(dayflow_project):
    dayflow_project.run("daily", "2024-13-01", job="usage")


def test_missing_table(dayflow_project):
    dayflow_project.read_table("mart", "nope")


def test_unknown_table(dayflow_project):
    dayflow_project.load_rows("raw.nope", [{"meter_id": "m1"}])


def test_unknown_column(dayflow_project):
    dayflow_project.load_rows("raw.readings", [{"meter_id": "m1", "watts": 3}])
"""


def get_plugin_args() -> list[str]:
    """`-p dayflow.testing.plugin` unless installing dayflow registered it (entry point
    `pytest11: dayflow`): loading it twice would be an error."""
    installed = importlib.metadata.entry_points(group="pytest11", name="dayflow")
    return [] if installed else ["-p", "dayflow.testing.plugin"]


def write_project(root: Path) -> Path:
    """The tiny project under `root`: spec, SQL and seed; returns the spec's path."""
    (root / "sql").mkdir(parents=True)
    (root / "seed").mkdir()
    (root / "sql" / "usage.sql").write_text(USAGE_SQL)
    (root / "sql" / "bad.sql").write_text(BAD_SQL)
    (root / "seed" / "readings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SEED))
    spec = root / "dayflow.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    return spec


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.emulator
def test_one_stack_serves_the_session_failures_read_clearly_and_it_stops_at_the_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", HOME)
    # The spec in a subfolder, found through --dayflow-spec (relative to where pytest runs).
    write_project(pytester.path / "project")
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_project=PROJECT_TESTS)

    result = pytester.runpytest_subprocess(
        *get_plugin_args(), "--dayflow-spec", "project/dayflow.yaml", "-p", "no:cacheprovider"
    )

    seen = [json.loads(line) for line in (pytester.path / "seen.jsonl").read_text().splitlines()]
    try:
        result.assert_outcomes(passed=2, failed=6)
        # One stack for the whole session: every test saw the same services and processes.
        assert len(seen) == 3
        assert all(s == seen[0] for s in seen), seen
        # On free ports: not the usual ones that `dayflow local up` takes first.
        ports = {int(seen[0]["urls"][k].rsplit(":", 1)[1]) for k in URL_KEYS}
        assert ports.isdisjoint({9050, 8080, 8090}), ports
        # The failing pipeline: one line per partition job that did not succeed, with its error.
        result.stdout.fnmatch_lines(
            [
                "E *AssertionError: broken 2024-01-01..2024-01-01: 2 of 2 partition jobs did "
                "not succeed:",
                "E *  2024-01-01 bad: failed (attempt 1): Unrecognized name: no_such_column*",
                "E *  2024-01-01 after_bad: never ran",
            ]
        )
        # The test's own line is shown; the plugin's frames are hidden.
        assert "dayflow_project.assert_succeeded(" in result.stdout.str()
        assert "def assert_succeeded(" not in result.stdout.str()
        # A user's mistake is one line naming the value and what was expected, no traceback.
        for name, line in (
            ("test_unknown_pipeline", "unknown pipeline 'nope' (expected one of: daily, broken)"),
            (
                "test_bad_partition_key",
                "partition_key '2024-13-01' is not a date (expected YYYY-MM-DD)",
            ),
            (
                "test_missing_table",
                "table mart.nope not found in the local warehouse (as local.mart.nope)",
            ),
            (
                "test_unknown_table",
                "'raw.nope' is not a declared source table (expected one of: raw.readings)",
            ),
            (
                "test_unknown_column",
                "row 1 for raw.readings: unknown column(s) 'watts' (expected columns of "
                "raw.readings: meter_id, kwh, read_at)",
            ),
        ):
            section = get_failure_section(result.stdout.lines, name)
            assert section == [line], section
    finally:
        # After the session: every process of the stack is gone, its ports closed.
        urls = seen[0]["urls"] if seen else {}
        leaked = [pid for s in seen for pid in s["pids"].values() if is_alive(pid)]
        if leaked:
            from dayflow.local import stack

            stack.down(Path(seen[0]["state_dir"]))
    assert leaked == []
    for key in URL_KEYS:
        assert not is_port_open(int(urls[key].rsplit(":", 1)[1])), key
    assert not (Path(seen[0]["state_dir"]) / "stack.json").exists()


def get_failure_section(lines: list[str], test_name: str) -> list[str]:
    """The lines of a test's failure report (between its `____ name ____` header and the next
    header), blank lines dropped."""
    start = next(i for i, line in enumerate(lines) if line.strip("_ ") == test_name)
    section = []
    for line in lines[start + 1 :]:
        if line.startswith("____") or line.startswith("===="):
            break
        if line.strip():
            section.append(line)
    return section


def test_a_missing_spec_fails_the_tests_that_use_the_fixture_with_one_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\ndayflow_spec = specs/shop.yaml\n")
    pytester.makepyfile(
        test_project="""
        def test_uses_it(dayflow_project):
            pass

        def test_does_not():
            pass
        """
    )

    result = pytester.runpytest_subprocess(*get_plugin_args(), "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1, errors=1)
    expected = (
        f"dayflow spec {pytester.path / 'specs' / 'shop.yaml'} not found (from dayflow_spec; "
        "expected a dayflow.yaml: set the dayflow_spec ini option or pass --dayflow-spec PATH)"
    )
    assert get_failure_section(result.stdout.lines, "ERROR at setup of test_uses_it") == [expected]
    assert "Traceback" not in result.stdout.str()


def test_a_session_that_uses_no_fixture_starts_nothing(pytester: pytest.Pytester) -> None:
    write_project(pytester.path)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")

    result = pytester.runpytest_subprocess(
        *get_plugin_args(), "-p", "no:cacheprovider", f"--basetemp={pytester.path / 'tmp'}"
    )

    result.assert_outcomes(passed=1)
    # The fixture would have made its state directory under the session's basetemp.
    assert not list((pytester.path / "tmp").glob("dayflow*"))
    # And the options are there for those who use it.
    help_text = pytester.runpytest_subprocess(*get_plugin_args(), "--help").stdout.str()
    assert "--dayflow-spec=PATH" in help_text
    assert "dayflow_spec (string):" in help_text
