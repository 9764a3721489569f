from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from dayflow.cli import main
from dayflow.errors import SpecError
from dayflow.spec import DbtJob, find_cycle, load_spec
from tests.conftest import PROJECT


def project_spec() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((PROJECT / "dayflow.yaml").read_text())


def link_project_files(folder: Path) -> None:
    """Link the tests project's SQL and transforms beside a copy of its spec."""
    for name in ("sql", "seed", "dbt", "dataform"):
        (folder / name).symlink_to(PROJECT / name)


def validate(
    tmp_path: Path, spec: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str]]:  # type: ignore[type-arg]
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    link_project_files(tmp_path)
    monkeypatch.setattr(sys, "argv", ["dayflow", "validate", "--spec", str(path)])
    with pytest.raises(SystemExit) as exited:
        main()
    return int(exited.value.code or 0), capsys.readouterr().err.splitlines()


def jobs(spec: dict) -> dict:  # type: ignore[type-arg]
    return spec["pipelines"]["shop_daily"]["jobs"]  # type: ignore[no-any-return]


def test_project_spec_is_valid() -> None:
    spec = load_spec(PROJECT / "dayflow.yaml")
    assert list(spec.pipelines["shop_daily"].jobs) == [
        "stg_orders",
        "dim_customers",
        "mart_daily_sales",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: jobs(s)["stg_orders"].update(depends_on=["mart_daily_sales"]),
            "pipelines.shop_daily.jobs: dependency cycle stg_orders -> mart_daily_sales -> stg_orders",
        ),
        (
            lambda s: jobs(s)["mart_daily_sales"].update(depends_on=["stg_order"]),
            "pipelines.shop_daily.jobs.mart_daily_sales.depends_on: unknown job 'stg_order' "
            "(expected one of: stg_orders, dim_customers)",
        ),
        (
            lambda s: jobs(s)["stg_orders"].update(depends_on=["stg_orders"]),
            "pipelines.shop_daily.jobs.stg_orders.depends_on: job depends on itself",
        ),
        (
            lambda s: s["pipelines"]["shop_daily"].update(schedule="0 25 * * *"),
            "pipelines.shop_daily.schedule: cron schedule '0 25 * * *': "
            "hour 25 is out of range (expected 0-23)",
        ),
        (
            lambda s: s["pipelines"]["shop_daily"].update(timezone="Europe/Stokholm"),
            "pipelines.shop_daily.timezone: unknown timezone 'Europe/Stokholm' "
            "(expected an IANA name such as 'Europe/Stockholm')",
        ),
        (
            lambda s: s["pipelines"]["shop_daily"].update(granularity="week"),
            "pipelines.shop_daily.granularity: Input should be 'day' or 'hour' (got 'week')",
        ),
        (
            lambda s: s["pipelines"]["shop_daily"].update(start="2024-13-01"),
            "pipelines.shop_daily.start: partition_key '2024-13-01' is not a date (expected YYYY-MM-DD)",
        ),
        (
            lambda s: jobs(s)["stg_orders"]["destination"].update(table="orders; DROP"),
            "pipelines.shop_daily.jobs.stg_orders.destination.table: String should match pattern",
        ),
    ],
    ids=["cycle", "unknown-depends-on", "self-reference", "bad-cron", "bad-timezone",
         "bad-granularity", "bad-start", "unsafe-identifier"],
)  # fmt: skip
def test_validate_reports_each_error_on_one_line_with_file_and_field_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change,
    expected,  # type: ignore[no-untyped-def]
) -> None:
    spec = project_spec()
    change(spec)
    code, lines = validate(tmp_path, spec, monkeypatch, capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {tmp_path / 'dayflow.yaml'}: {expected}")


def test_validate_prints_one_line_per_error_when_there_are_several(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = project_spec()
    spec["pipelines"]["shop_daily"].update(schedule="daily", timezone="Mars/Base")
    code, lines = validate(tmp_path, spec, monkeypatch, capsys)
    assert code == 2
    assert [re.sub(r":.*?: ", ": ", line, count=1).split(":")[1] for line in lines] == [
        " pipelines.shop_daily.timezone",
        " pipelines.shop_daily.schedule",
    ]


def test_missing_spec_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=re.escape("file not found (expected a dayflow.yaml spec)")):
        load_spec(tmp_path / "nope.yaml")


def test_merge_destination_must_not_require_partition_filter(tmp_path: Path) -> None:
    spec = project_spec()
    jobs(spec)["dim_customers"]["destination"]["require_partition_filter"] = True
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    link_project_files(tmp_path)
    with pytest.raises(SpecError, match="expected require_partition_filter: false"):
        load_spec(path)


def test_find_cycle_returns_the_cycle_path() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": [], "b": ["a"]}) is None


def events_jobs(spec: dict) -> dict:  # type: ignore[type-arg]
    return spec["pipelines"]["shop_events"]["jobs"]  # type: ignore[no-any-return]


def test_project_declares_its_source_dataset_and_what_dbt_reads() -> None:
    spec = load_spec(PROJECT / "dayflow.yaml")
    assert list(spec.sources) == ["raw"]
    assert spec.sources["raw"].description
    dbt = spec.pipelines["shop_events"].jobs["mart_dbt"]
    assert isinstance(dbt, DbtJob)
    assert dbt.reads == ["semantic"]


def test_a_transform_reading_an_undeclared_dataset_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = project_spec()
    events_jobs(spec)["mart_dbt"]["reads"] = ["semantic", "crm"]
    code, lines = validate(tmp_path, spec, monkeypatch, capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert "pipelines.shop_events.jobs.mart_dbt.reads: unknown dataset 'crm' (expected a dataset " in lines[0]  # fmt: skip
    assert "raw" in lines[0] and "semantic" in lines[0]


def test_a_transform_may_read_a_declared_source(tmp_path: Path) -> None:
    spec = project_spec()
    events_jobs(spec)["mart_dbt"]["reads"] = ["semantic", "raw"]
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    link_project_files(tmp_path)
    dbt = load_spec(path).pipelines["shop_events"].jobs["mart_dbt"]
    assert isinstance(dbt, DbtJob) and dbt.reads == ["semantic", "raw"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda s: s["sources"].update(mart={"description": "x"}),
            "sources.mart: dataset 'mart' is also written by dayflow",
        ),
        (lambda s: s["sources"].update(raw={}), "sources.raw.description: Field required"),
        (
            lambda s: s["sources"].update({"raw-data": {"description": "x"}}),
            "sources.raw-data.[key]: String should match pattern",
        ),
    ],
    ids=["source-written-by-dayflow", "source-without-description", "source-bad-name"],
)
def test_a_bad_source_is_one_line_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change,
    expected,  # type: ignore[no-untyped-def]
) -> None:
    spec = project_spec()
    change(spec)
    code, lines = validate(tmp_path, spec, monkeypatch, capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]


def test_an_http_job_with_a_plain_url_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = project_spec()
    jobs(spec)["hook"] = {"kind": "http", "url": "https://example.com/hook"}
    code, lines = validate(tmp_path, spec, monkeypatch, capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert "pipelines.shop_daily.jobs.hook: url 'https://example.com/hook': an http job calls one of the spec's services (expected service: NAME and path: /PATH, with NAME declared under services)" in lines[0]  # fmt: skip
