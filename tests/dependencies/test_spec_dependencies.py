"""`depends_on` entries naming a job of another pipeline: what `dayflow validate` accepts and
refuses (one line each, exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from dayflow.cli import main
from dayflow.spec import load_spec
from dayflow.spec_dependencies import get_upstream_jobs, get_upstream_pipelines
from tests.dependencies.meter_project import meter_spec, write_meter_project

WHERE = "pipelines.meter_daily.jobs.rollup.depends_on"


def validate(
    tmp_path: Path,
    spec: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, list[str]]:
    path = write_meter_project(tmp_path, spec)
    monkeypatch.setattr(sys, "argv", ["dayflow", "validate", "--spec", str(path)])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err.splitlines()


def rollup(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["pipelines"]["meter_daily"]["jobs"]["rollup"]  # type: ignore[no-any-return]


def test_plain_and_cross_pipeline_dependencies_load(tmp_path: Path) -> None:
    spec = meter_spec()
    jobs = spec["pipelines"]["meter_daily"]["jobs"]
    jobs["check"] = {**rollup(spec), "depends_on": ["rollup"]}
    spec_obj = load_spec(write_meter_project(tmp_path, spec))
    check = spec_obj.pipelines["meter_daily"].jobs["check"]
    assert check.get_job_dependencies() == ("rollup",)
    assert check.get_pipeline_dependencies() == ()
    (upstream,) = get_upstream_jobs(spec_obj, "meter_daily", "rollup")
    assert (upstream.name, upstream.mapping.kind) == ("meter_hourly.readings", "hours_of_day")
    assert get_upstream_pipelines(spec_obj, "meter_daily") == ["meter_hourly"]
    assert get_upstream_pipelines(spec_obj, "meter_hourly") == []


def _dep(**fields: Any) -> Any:
    return lambda s: rollup(s).update(depends_on=[fields])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _dep(pipeline="meter_hourly", job="reading"),
            f"{WHERE}: {{pipeline: meter_hourly, job: reading}}: unknown job 'reading' in "
            "pipeline 'meter_hourly' (expected one of: readings)",
        ),
        (
            _dep(pipeline="meter_hour", job="readings"),
            f"{WHERE}: {{pipeline: meter_hour, job: readings}}: unknown pipeline 'meter_hour' "
            "(expected one of: meter_hourly)",
        ),
        (
            _dep(pipeline="meter_daily", job="rollup"),
            f"{WHERE}: {{pipeline: meter_daily, job: rollup}}: a job of this pipeline is named "
            "plainly (expected `- rollup`)",
        ),
        (
            _dep(pipeline="grid.meter_hourly", job="readings"),
            f"{WHERE}: {{pipeline: grid.meter_hourly, job: readings}}: depending on a pipeline "
            "of another domain is not supported in this release (its run ledger is the "
            "producer's; expected a pipeline of this spec: meter_hourly)",
        ),
        (
            _dep(pipeline="meter_hourly", job="readings", mapping="identity"),
            f"{WHERE}: {{pipeline: meter_hourly, job: readings}}: mapping 'identity' cannot map "
            "a daily pipeline onto an hourly upstream (expected 'hours_of_day')",
        ),
        (
            _dep(pipeline="meter_hourly", job="readings", mapping="window"),
            f"{WHERE}: {{pipeline: meter_hourly, job: readings}}: mapping 'window' cannot map "
            "a daily pipeline onto an hourly upstream (expected 'hours_of_day')",
        ),
        (
            lambda s: s["pipelines"]["meter_hourly"].update(timezone="Europe/Stockholm"),
            f"{WHERE}: {{pipeline: meter_hourly, job: readings}}: pipeline 'meter_hourly' is in "
            "Europe/Stockholm and 'meter_daily' in America/New_York (expected one timezone: "
            "keys map by local time)",
        ),
        (
            _dep(pipeline="meter_hourly", job="readings", mapping="hourly"),
            f"{WHERE}.0.mapping: Input should be 'identity', 'hours_of_day', "
            "'day_of_hour' or 'window' (got 'hourly')",
        ),
        (
            lambda s: s["pipelines"]["meter_hourly"]["jobs"]["readings"].update(
                depends_on=[{"pipeline": "meter_daily", "job": "rollup", "mapping": "day_of_hour"}]
            ),
            "pipelines: dependency cycle across pipelines meter_hourly.readings -> "
            "meter_daily.rollup -> meter_hourly.readings",
        ),
    ],
)
def test_validate_refuses_bad_cross_pipeline_dependencies(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: Any,
    expected: str,
) -> None:
    spec = meter_spec()
    change(spec)
    code, lines = validate(tmp_path, spec, monkeypatch, capsys)
    assert code == 2
    assert lines == [f"error: {tmp_path / 'dayflow.yaml'}: {expected}"]


def test_validate_accepts_a_window_and_reports_its_pipelines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = meter_spec()
    jobs = spec["pipelines"]["meter_daily"]["jobs"]
    jobs["weekly"] = {
        **rollup(spec),
        "depends_on": [{"pipeline": "meter_daily_copy", "job": "rollup", "mapping": "window",
                        "window": 7}],
    }  # fmt: skip
    spec["pipelines"]["meter_daily_copy"] = {
        **spec["pipelines"]["meter_daily"],
        "jobs": {"rollup": rollup(spec)},
    }
    code, lines = validate(tmp_path, spec, monkeypatch, capsys)
    assert (code, lines) == (0, [])
