"""The Dataform job kind through the pinned CLI, against the emulator."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from dayflow.errors import ToolNotInstalledError, TransformError
from dayflow.local.process import get_free_port
from dayflow.spec import DataformJob
from dayflow.transforms.dataform import run_dataform
from dayflow.transforms.partition_vars import PartitionVars
from dayflow.transforms.results import TransformResult

from .semantic_layer import PROJECT, Semantic, partition

pytestmark = pytest.mark.emulator


def dataform(
    semantic: Semantic,
    key: str = "2024-01-05",
    *,
    spec_root: Path = PROJECT,
    timeout: float = 120,
    endpoint: str | None = None,
    **job: Any,
) -> TransformResult:
    return run_dataform(
        DataformJob(kind="dataform", project_dir=job.pop("project_dir", "dataform"), **job),
        spec_root=spec_root,
        partition=partition(key) if isinstance(key, str) else key,
        project="local",
        dataset_prefix=semantic.prefix,
        bigquery_endpoint=endpoint or semantic.endpoint,
        timeout=timeout,
    )


def test_failing_assertion_fails_the_run_naming_it(semantic: Semantic) -> None:
    result = dataform(semantic, tags=["daily_sales"], vars={"min_orders_per_partition": 100})

    assert not result.success
    assert not result.transient
    assert result.error == (
        "dataform assertion failed: daily_sales_dataform_min_orders (1 failing row)"
    )
    failed = next(n for n in result.nodes if n.status == "failed")
    assert failed.kind == "assertion"
    assert failed.message == "bigquery error: Assertion failed: query returned 1 row(s)."


def test_bad_input_fails_the_source_assertion_and_skips_the_mart(semantic: Semantic) -> None:
    semantic.add_order("o99", "refunded", "2024-01-05")

    result = dataform(semantic)

    assert not result.success
    assert result.failed_checks == ["semantic_orders_status_is_known"]
    statuses = {n.name: n.status for n in result.nodes}
    assert statuses["daily_sales_dataform"] == "skipped"


def test_selected_action_runs_alone(semantic: Semantic) -> None:
    result = dataform(semantic, actions=["semantic_orders_status_is_known"])

    assert result.success, result.error
    assert [(n.name, n.status) for n in result.nodes] == [
        ("semantic_orders_status_is_known", "succeeded")
    ]
    assert result.rows_written is None


def test_unknown_action_is_rejected_naming_the_known_ones(semantic: Semantic) -> None:
    with pytest.raises(
        TransformError, match=r"action 'daily_sales' is not in project .*daily_sales_dataform"
    ):
        dataform(semantic, actions=["daily_sales"])


def test_a_dataset_the_job_does_not_declare_in_writes_is_refused_before_running(
    semantic: Semantic,
) -> None:
    # Infra creates and grants only the declared datasets; the assertions land in
    # dataform_assertions, which this job leaves out.
    with pytest.raises(
        TransformError,
        match=re.escape("writes dataset 'dataform_assertions', which the job does not declare"),
    ):
        dataform(semantic, writes=["mart"])
    assert dataform(semantic, writes=["mart", "dataform_assertions"]).success


def test_hourly_partition_key_fails_to_compile_naming_the_expected_format(
    semantic: Semantic,
) -> None:
    day = partition("2024-01-05")
    hour = PartitionVars("2024-01-05T03", day.partition_start, day.partition_end)
    with pytest.raises(
        TransformError,
        match=re.escape("does not compile: definitions/")
        + ".*"
        + re.escape("partition_key '2024-01-05T03' is not a date (expected YYYY-MM-DD"),
    ):
        dataform(semantic, hour)  # type: ignore[arg-type]


def test_project_without_installed_cli_names_the_install_command(
    semantic: Semantic, tmp_path: Path
) -> None:
    shutil.copytree(
        PROJECT / "dataform",
        tmp_path / "df",
        ignore=shutil.ignore_patterns("node_modules"),
    )
    with pytest.raises(ToolNotInstalledError, match=r"run `npm ci --prefix .*/df`"):
        dataform(semantic, spec_root=tmp_path, project_dir="df")


def test_unreachable_bigquery_fails_within_the_timeout_as_transient(semantic: Semantic) -> None:
    started = time.monotonic()
    result = dataform(semantic, timeout=5, endpoint=f"http://127.0.0.1:{get_free_port()}")

    assert not result.success
    assert result.transient, result.error
    assert time.monotonic() - started < 5 + 2 + 3  # timeout, kill grace, slack
