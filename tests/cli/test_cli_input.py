"""Bad input through the real `dayflow` entry point: one line on stderr, exit 2, no traceback,
before any service is called (none runs in these tests)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.conftest import RunCli, write_hourly_spec
from tests.conftest import read_project_spec

# Nothing listens here: a command that called a service would fail differently.
NO_SERVICE = "http://127.0.0.1:9"


def test_version_prints_the_installed_distribution_version(cli: RunCli) -> None:
    result = cli("--version")
    assert result.code == 0
    assert result.out == f"dayflow {version('dayflow')}\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "shop_daily"],
         "error: Missing option '--partition' / '-p'. (see: dayflow run --help)"),
        (["status", "shop_daily", "--start", "2024-01-01", "--end", "2024-01-02", "--only", "x"],
         "error: No such option: --only (Possible options: --json) (see: dayflow status --help)"),
        (["executions", "shop_daily", "--limit", "0"],
         "error: Invalid value for '--limit': Input should be greater than or equal to 1 "
         "(see: dayflow executions --help)"),
        (["nope"], "error: No such command 'nope'. (see: dayflow --help)"),
    ],
    ids=["missing-option", "unknown-option", "out-of-range", "unknown-command"],
)  # fmt: skip
def test_a_usage_error_is_one_line_naming_the_help_to_read(
    cli: RunCli, args: list[str], expected: str
) -> None:
    result = cli(*args)
    assert result.code == 2
    assert result.err_lines == [expected]


def test_help_is_still_shown_and_exits_0(cli: RunCli) -> None:
    result = cli("run", "--help")
    assert result.code == 0
    assert "--partition" in result.out


def test_run_on_an_hour_skipped_by_dst_is_one_line_naming_it(cli: RunCli, tmp_path: Path) -> None:
    spec = write_hourly_spec(tmp_path)
    result = cli(
        "run", "meter_hourly", "--partition", "2024-03-10T02", "--spec", str(spec),
        job_runner_url=NO_SERVICE,
    )  # fmt: skip
    assert result.code == 2
    assert result.err_lines == [
        "error: partition_key '2024-03-10T02' does not exist in America/New_York "
        "(skipped by a daylight-saving change)"
    ]


def test_run_on_a_key_of_the_wrong_granularity_is_one_line(cli: RunCli, tmp_path: Path) -> None:
    spec = write_hourly_spec(tmp_path)
    result = cli(
        "run", "meter_hourly", "--partition", "2024-03-10", "--spec", str(spec),
        job_runner_url=NO_SERVICE,
    )  # fmt: skip
    assert result.code == 2
    assert result.err_lines == [
        "error: partition_key '2024-03-10' is not an hour (expected YYYY-MM-DDTHH)"
    ]


def test_run_of_an_unknown_job_is_a_user_error_naming_the_jobs(cli: RunCli, tmp_path: Path) -> None:
    spec = write_hourly_spec(tmp_path)
    result = cli(
        "run", "shop_daily", "--partition", "2024-01-02", "--job", "nope", "--spec", str(spec),
        job_runner_url=NO_SERVICE,
    )  # fmt: skip
    assert result.code == 2
    assert result.err_lines == [
        "error: unknown job 'nope' in pipeline 'shop_daily' "
        "(expected one of: stg_orders, dim_customers, mart_daily_sales)"
    ]
    assert result.out == ""  # no "failed" row: nothing ran


def test_run_of_an_unknown_pipeline_names_the_pipelines(cli: RunCli, tmp_path: Path) -> None:
    spec = write_hourly_spec(tmp_path)
    result = cli("run", "nope", "--partition", "2024-01-02", "--spec", str(spec))
    assert result.code == 2
    assert result.err_lines == [
        "error: unknown pipeline 'nope' (expected one of: shop_daily, shop_events, meter_hourly)"
    ]


def test_status_refuses_a_reversed_day_range_in_one_line(cli: RunCli, tmp_path: Path) -> None:
    spec = write_hourly_spec(tmp_path)
    result = cli(
        "status", "meter_hourly", "--start", "2024-03-11", "--end", "2024-03-10",
        "--spec", str(spec), job_runner_url=NO_SERVICE,
    )  # fmt: skip
    assert result.code == 2
    assert result.err_lines == [
        "error: start '2024-03-11T00' is after end '2024-03-10T23' (expected start <= end)"
    ]


def test_the_installed_command_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """The console script itself, in its own process, as a shell runs it."""
    spec = write_hourly_spec(tmp_path)
    dayflow = Path(sys.executable).parent / "dayflow"
    result = subprocess.run(
        [str(dayflow), "run", "meter_hourly", "--partition", "2024-03-10T02", "--spec", str(spec)],
        capture_output=True, text=True, check=False,
        env={"PATH": str(dayflow.parent), "DAYFLOW_JOB_RUNNER_URL": NO_SERVICE,
             "PYTHONPATH": ":".join(sys.path)},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: partition_key '2024-03-10T02' does not exist in America/New_York "
        "(skipped by a daylight-saving change)"
    ]


# --- validate: type rules and schedules ----------------------------------------------------


def validate(cli: RunCli, tmp_path: Path, spec: dict[str, Any]) -> list[str]:
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = cli("validate", "--spec", str(path))
    assert result.code == 2, result.out
    prefix = f"error: {path}: "
    assert all(line.startswith(prefix) for line in result.err_lines), result.err_lines
    return [line.removeprefix(prefix) for line in result.err_lines]


def orders(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["topics"]["orders"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: orders(s)["fields"]["updated_at"].update(type="string"),
            "topics.orders.event_time: field 'updated_at' is a string "
            "(expected a timestamp or date field)",
        ),
        (
            lambda s: orders(s)["fields"]["order_id"].update(type="object"),
            "topics.orders.key: field 'order_id' is an object "
            "(expected one of: string, integer, boolean, timestamp, date)",
        ),
        (
            lambda s: orders(s)["fields"]["status"].update(type="integer"),
            "topics.orders.fields.status.enum: value 'placed' is not an integer "
            "(expected integer values, as the field's type)",
        ),
        (
            lambda s: orders(s)["fields"]["amount"].update(enum=[1, 2]),
            "topics.orders.fields.amount.enum: a number field cannot have an enum "
            "(expected a string or integer field)",
        ),
        (
            lambda s: s["pipelines"]["shop_events"]["jobs"]["orders_semantic"]["destination"]
            .update(partition_field="amount"),
            "pipelines.shop_events.jobs.orders_semantic: dedup job of topic 'orders': "
            "destination.partition_field 'amount' is a topic field other than the DATE event "
            "time (expected 'updated_at' with a matching partition_type, or a new column name "
            "that dayflow fills with the partition)",
        ),
    ],
    ids=["string-event-time", "object-key", "enum-of-other-type", "enum-on-number",
         "dedup-partition-field"],
)  # fmt: skip
def test_validate_refuses_a_type_rule_that_would_fail_at_run_time(
    cli: RunCli, tmp_path: Path, change: Any, expected: str
) -> None:
    spec = read_project_spec()
    change(spec)
    assert validate(cli, tmp_path, spec) == [expected]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("70 * * * *", "minute 70 is out of range (expected 0-59)"),
        ("0 24 * * *", "hour 24 is out of range (expected 0-23)"),
        ("0 2 0 * *", "day of the month 0 is out of range (expected 1-31)"),
        ("0 2 * 13 *", "month 13 is out of range (expected 1-12 or JAN-DEC)"),
        ("0 2 * * 8", "day of the week 8 is out of range (expected 0-7 or SUN-SAT)"),
        ("0 2 L * *", "day of the month 'L' is not a value (expected 1-31)"),
        ("*/0 2 * * *", "minute '*/0' has step 0 (expected a step of 1 or more)"),
        ("0 5-1 * * *", "hour range '5-1' runs backwards (expected a-b with a <= b)"),
    ],
)
def test_a_bad_schedule_names_the_field_out_of_range(
    cli: RunCli, tmp_path: Path, schedule: str, expected: str
) -> None:
    # https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules: the five fields,
    # their ranges, and no `L`.
    spec = read_project_spec()
    spec["pipelines"]["shop_daily"]["schedule"] = schedule
    assert validate(cli, tmp_path, spec) == [
        f"pipelines.shop_daily.schedule: cron schedule {schedule!r}: {expected}"
    ]


@pytest.mark.parametrize("schedule", ["0 2 * * *", "*/15 8-18/2 1,15 * MON-FRI", "0 0 * JAN 7"])
def test_schedules_cloud_scheduler_accepts_validate(
    cli: RunCli, tmp_path: Path, schedule: str
) -> None:
    spec = read_project_spec()
    spec["pipelines"]["shop_daily"]["schedule"] = schedule
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = cli("validate", "--spec", str(path))
    assert result.code == 0, result.err


def test_validate_of_a_directory_is_one_line_naming_the_file_expected(
    cli: RunCli, tmp_path: Path
) -> None:
    result = cli("validate", "--spec", str(tmp_path))
    assert result.code == 2
    assert result.err_lines == [
        f"error: {tmp_path}: is a directory (expected a spec file, e.g. {tmp_path / 'dayflow.yaml'})"
    ]


def test_validate_of_a_file_that_is_not_utf8_is_one_line_naming_the_offset(
    cli: RunCli, tmp_path: Path
) -> None:
    spec = tmp_path / "dayflow.yaml"
    head = b"version: 1\nname: caf"
    spec.write_bytes(head + "é\n".encode("latin-1"))
    result = cli("validate", "--spec", str(spec))
    assert result.code == 2
    assert result.err_lines == [
        f"error: {spec}: not UTF-8 at byte offset {len(head)} (expected a UTF-8 text file)"
    ]


def test_validate_refuses_a_duplicate_key_naming_both_lines(cli: RunCli, tmp_path: Path) -> None:
    # A second `pipelines:` block would otherwise silently replace the first one.
    spec = read_project_spec()
    text = yaml.safe_dump(spec, sort_keys=False)
    text += "pipelines:\n  other: {granularity: day, timezone: UTC, jobs: {}}\n"
    path = tmp_path / "dayflow.yaml"
    path.write_text(text)
    first = 1 + text.splitlines().index("pipelines:")
    second = len(text.splitlines()) - 1
    result = cli("validate", "--spec", str(path))
    assert result.code == 2
    assert result.err_lines == [
        f"error: {path}: line {second}: not valid YAML (duplicate key 'pipelines' "
        f"(first on line {first}; expected each key once))"
    ]
