"""Fixtures: the real `dayflow` entry point (`dayflow.cli.main`) run in-process on an argv, with
its settings from DAYFLOW_* environment variables, as a shell would set them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from dayflow.cli import main
from dayflow.settings import get_settings
from tests.conftest import read_project_spec


@dataclass(frozen=True)
class CliResult:
    """What a `dayflow` command did: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


class RunCli(Protocol):
    def __call__(self, *args: str, **env: str) -> CliResult: ...


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[RunCli]:
    """Run `dayflow ARGS` with `DAYFLOW_<KEY>=value` for each keyword. Any exception other than
    the exit itself fails the test: the command would have printed a traceback."""

    def run(*args: str, **env: str) -> CliResult:
        for key in ("ENV", "JOB_RUNNER_URL", "STATE_DIR", "WORKFLOWS_ENDPOINT",
                    "WORKFLOWS_LOCATION", "SPEC", "IMPERSONATE_SERVICE_ACCOUNT"):  # fmt: skip
            monkeypatch.delenv(f"DAYFLOW_{key}", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(f"DAYFLOW_{key.upper()}", value)
        get_settings.cache_clear()
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["dayflow", *args])
        try:
            main(list(args))
            code = 0
        except SystemExit as exited:
            code = (
                exited.code if isinstance(exited.code, int) else (0 if exited.code is None else 1)
            )
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out
        return CliResult(code, captured.out, captured.err)

    yield run
    get_settings.cache_clear()


def write_hourly_spec(directory: Path, **changes: Any) -> Path:
    """The tests project's spec plus `meter_hourly`, an hourly pipeline in America/New_York (its DST
    days: 2024-03-10 has 23 hours, 2024-11-03 has 25), written to `directory/dayflow.yaml`.
    `changes` replace top-level keys."""
    spec = read_project_spec()
    sql = directory / "meter_hourly.sql"
    sql.write_text("SELECT @partition_start AS reading_ts, 1.0 AS kwh\n")
    spec["pipelines"]["meter_hourly"] = {
        "granularity": "hour",
        "timezone": "America/New_York",
        "schedule": "5 * * * *",
        "start": "2024-03-01T00",
        "jobs": {
            "readings": {
                "kind": "bigquery_sql",
                "sql": str(sql),
                "destination": {
                    "dataset": "staging",
                    "table": "meter_readings",
                    "partition_field": "reading_ts",
                    "partition_type": "TIMESTAMP",
                },
            }
        },
    }
    spec.update(changes)
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
