"""The dbt job kind against the emulator: the data-quality gate, warnings and clear errors."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.errors import TransformError
from dayflow.local.process import get_free_port
from dayflow.spec import DbtJob
from dayflow.transforms.dbt import run_dbt
from dayflow.transforms.dbt_profile import PROFILE_NAME, build_profile
from dayflow.transforms.partition_vars import PartitionVars
from dayflow.transforms.results import TransformResult

from .semantic_layer import PROJECT, Semantic, partition

pytestmark = pytest.mark.emulator


def dbt(semantic: Semantic, key: str = "2024-01-05", **job: Any) -> TransformResult:
    return run_dbt(
        DbtJob(kind="dbt", project_dir="dbt", **job),
        spec_root=PROJECT,
        partition=partition(key),
        project="local",
        dataset_prefix=semantic.prefix,
        bigquery_endpoint=semantic.endpoint,
        timeout=60,
    )


def test_failing_data_test_fails_the_run_naming_the_test(semantic: Semantic) -> None:
    result = dbt(semantic, vars={"min_orders_per_partition": 100})

    assert not result.success
    assert not result.transient
    assert result.error == "dbt test failed: daily_sales_dbt_min_orders (1 failing row)"
    assert result.failed_checks == ["daily_sales_dbt_min_orders"]
    # The mart itself was built; the gate stops what depends on it.
    assert semantic.checksum("daily_sales_dbt", "2024-01-05")


def test_test_listed_in_warn_tests_only_warns(semantic: Semantic) -> None:
    result = dbt(
        semantic,
        vars={"min_orders_per_partition": 100},
        warn_tests=["daily_sales_dbt_min_orders"],
    )

    assert result.success, result.error
    assert result.warned_checks == ["daily_sales_dbt_min_orders"]
    assert all(n.status == "succeeded" for n in result.nodes if n.status != "warned")


def test_bad_input_fails_the_source_test_and_skips_the_mart(semantic: Semantic) -> None:
    semantic.add_order("o99", "refunded", "2024-01-05")

    result = dbt(semantic)

    assert not result.success
    assert "semantic_orders_status_is_known" in (result.error or "")
    statuses = {n.name: n.status for n in result.nodes}
    assert statuses["semantic_orders_status_is_known"] == "failed"
    assert statuses["daily_sales_dbt"] == "skipped"
    # Another partition is unaffected: tests read only the partition being built.
    assert dbt(semantic, "2024-01-06").success


def test_hourly_partition_key_is_rejected_naming_the_expected_format(semantic: Semantic) -> None:
    day = partition("2024-01-05")
    with pytest.raises(
        TransformError, match=re.escape("partition_key '2024-01-05T03' is not a date")
    ):
        run_dbt(
            DbtJob(kind="dbt", project_dir="dbt"),
            spec_root=PROJECT,
            partition=PartitionVars("2024-01-05T03", day.partition_start, day.partition_end),
            project="local",
            dataset_prefix=semantic.prefix,
            bigquery_endpoint=semantic.endpoint,
            timeout=60,
        )


def test_selection_matching_nothing_is_rejected(semantic: Semantic) -> None:
    with pytest.raises(TransformError, match=r"dbt selection no_such_model matches no models"):
        dbt(semantic, select=["no_such_model"])


def test_missing_project_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TransformError, match=r"has no dbt_project.yml"):
        run_dbt(
            DbtJob(kind="dbt", project_dir="nowhere"),
            spec_root=tmp_path,
            partition=partition("2024-01-05"),
            project="local",
            dataset_prefix="",
            bigquery_endpoint="http://127.0.0.1:9",
            timeout=10,
        )


def test_missing_var_is_named_with_where_to_set_it(semantic: Semantic, tmp_path: Path) -> None:
    project = tmp_path / "needs_var"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: needs_var\nversion: '1.0.0'\nconfig-version: 2\nprofile: dayflow\n"
    )
    (project / "models" / "m.sql").write_text("select {{ var('region_code') }} as r\n")

    with pytest.raises(
        TransformError, match=r"needs var 'region_code': add it to the job's `vars`"
    ):
        run_dbt(
            DbtJob(kind="dbt", project_dir="needs_var"),
            spec_root=tmp_path,
            partition=partition("2024-01-05"),
            project="local",
            dataset_prefix=semantic.prefix,
            bigquery_endpoint=semantic.endpoint,
            timeout=10,
        )


def test_unreachable_bigquery_fails_fast_as_transient(semantic: Semantic) -> None:
    started = time.monotonic()
    result = run_dbt(
        DbtJob(kind="dbt", project_dir="dbt"),
        spec_root=PROJECT,
        partition=partition("2024-01-05"),
        project="local",
        dataset_prefix=semantic.prefix,
        bigquery_endpoint=f"http://127.0.0.1:{get_free_port()}",
        timeout=60,
    )

    assert not result.success
    assert result.transient, result.error
    assert time.monotonic() - started < 30


def test_local_target_replaces_the_partition_with_delete_and_insert(
    semantic: Semantic, tmp_path: Path
) -> None:
    for _ in range(2):  # the second run takes the incremental path
        result = run_dbt(
            DbtJob(kind="dbt", project_dir="dbt"),
            spec_root=PROJECT,
            partition=partition("2024-01-05"),
            project="local",
            dataset_prefix=semantic.prefix,
            bigquery_endpoint=semantic.endpoint,
            timeout=60,
            artifacts_dir=tmp_path,
        )
        assert result.success, result.error
    sql = (tmp_path / "run/shop/models/mart/daily_sales_dbt.sql").read_text().lower()
    assert "begin transaction;" in sql
    assert "merge into" not in sql


def test_other_targets_get_dbt_bigquerys_own_sql(semantic: Semantic, tmp_path: Path) -> None:
    """Production SQL is untouched: outside the target `local`, dbt-bigquery's MERGE runs.

    Run against the emulator, that MERGE fails (the emulator rejects it, see
    the local_bigquery macro), but the SQL dbt generated for it is what production runs.
    """
    from dbt.cli.main import dbtRunner

    assert dbt(semantic).success  # the table exists: the next run is incremental
    _, profile = build_profile(
        project="local",
        dataset="dbt",
        location=None,
        bigquery_endpoint=semantic.endpoint,
        timeout=30,
    )
    outputs = profile[PROFILE_NAME]["outputs"]
    outputs["prod"] = outputs.pop("local")
    profile[PROFILE_NAME]["target"] = "prod"
    (tmp_path / "profiles.yml").write_text(yaml.safe_dump(profile))
    vars_ = {**partition("2024-01-05").to_vars(), "dataset_prefix": semantic.prefix}
    dbtRunner().invoke(
        ["run", "--project-dir", str(PROJECT / "dbt"), "--profiles-dir", str(tmp_path),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
         "--vars", yaml.safe_dump(vars_), "--select", "daily_sales_dbt"]
    )  # fmt: skip

    sql = (tmp_path / "target/run/shop/models/mart/daily_sales_dbt.sql").read_text().lower()
    assert "merge into" in sql
    assert "when not matched by source" in sql
    assert "date(dbt_internal_dest.sales_date) in (\n                date '2024-01-05'" in sql
    assert "begin transaction" not in sql
