"""Both transform projects of the tests project (dbt, Dataform) against the emulator: idempotent per partition, and the same mart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from dayflow.spec import DataformJob, DbtJob
from dayflow.transforms.dataform import run_dataform
from dayflow.transforms.dbt import run_dbt
from dayflow.transforms.results import TransformResult

from .semantic_layer import (
    EXPECTED_2024_01_05,
    PROJECT,
    Semantic,
    create_semantic,
    partition,
)

pytestmark = pytest.mark.emulator

DBT_JOB = DbtJob(kind="dbt", project_dir="dbt")
DATAFORM_JOB = DataformJob(kind="dataform", project_dir="dataform", tags=["daily_sales"])


@dataclass
class Runs:
    """Runs of both projects over one semantic layer, with the mart's checksum after each."""

    semantic: Semantic
    results: dict[str, list[TransformResult]] = field(default_factory=dict)
    checksums: dict[str, list[int]] = field(default_factory=dict)


def run(
    tool: str, semantic: Semantic, key: str, artifacts_dir: Path | None = None
) -> TransformResult:
    common = {
        "spec_root": PROJECT,
        "partition": partition(key),
        "project": "local",
        "dataset_prefix": semantic.prefix,
        "bigquery_endpoint": semantic.endpoint,
        "timeout": 120,
    }
    if tool == "dbt":
        return run_dbt(DBT_JOB, artifacts_dir=artifacts_dir, **common)  # type: ignore[arg-type]
    return run_dataform(DATAFORM_JOB, **common)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runs(bigquery_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Each tool builds 2024-01-05, then 2024-01-06, then 2024-01-05 again."""
    semantic = create_semantic(bigquery_endpoint)
    found = Runs(semantic)
    for tool, table in (("dbt", "daily_sales_dbt"), ("dataform", "daily_sales_dataform")):
        found.results[tool], found.checksums[tool] = [], []
        for key in ("2024-01-05", "2024-01-06", "2024-01-05"):
            artifacts = tmp_path_factory.mktemp(f"{tool}-{key}")
            result = run(tool, semantic, key, artifacts)
            assert result.success, result.error
            found.results[tool].append(result)
            found.checksums[tool].append(semantic.checksum(table, "2024-01-05"))
    yield found
    semantic.client.close()


@pytest.mark.parametrize("tool", ["dbt", "dataform"])
def test_rerunning_a_partition_leaves_an_identical_mart(runs: Runs, tool: str) -> None:
    first, after_other_partition, after_rerun = runs.checksums[tool]
    assert first == after_other_partition == after_rerun


@pytest.mark.parametrize(
    ("tool", "table"), [("dbt", "daily_sales_dbt"), ("dataform", "daily_sales_dataform")]
)
def test_mart_holds_the_partitions_sales(runs: Runs, tool: str, table: str) -> None:
    assert runs.semantic.mart_rows(table, "2024-01-05") == EXPECTED_2024_01_05
    # c1 is a business customer from 2024-01-06 on: the later partition sees the new segment.
    assert runs.semantic.mart_rows(table, "2024-01-06") == [
        ("SE", "business", "EUR", 1, 1, Decimal("5")),
        ("SE", "business", "SEK", 1, 1, Decimal("2.5")),
    ]


def test_dbt_and_dataform_build_the_same_mart(runs: Runs) -> None:
    assert runs.checksums["dbt"] == runs.checksums["dataform"]
    for key in ("2024-01-05", "2024-01-06"):
        assert runs.semantic.checksum("daily_sales_dbt", key) == runs.semantic.checksum(
            "daily_sales_dataform", key
        )


@pytest.mark.parametrize("tool", ["dbt", "dataform"])
def test_runs_report_every_node_and_the_rows_written(runs: Runs, tool: str) -> None:
    result = runs.results[tool][-1]
    mart = "daily_sales_dbt" if tool == "dbt" else "daily_sales_dataform"
    check = "test" if tool == "dbt" else "assertion"
    by_name = {n.name: n for n in result.nodes}
    assert by_name[mart].kind == "model"
    assert by_name[mart].status == "succeeded"
    assert result.rows_written == by_name[mart].rows == len(EXPECTED_2024_01_05)
    checks = [n for n in result.nodes if n.kind == check]
    assert {f"{mart}_min_orders", f"{mart}_unique_grain", "semantic_orders_status_is_known"} <= {
        n.name for n in checks
    }
    assert all(n.status == "succeeded" for n in checks)
    assert all(n.seconds is not None for n in result.nodes)
    details = result.get_details()
    assert {"name", "kind", "status"} <= details[0].keys()
