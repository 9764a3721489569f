"""What goes into a transform run (vars, profile, spec fields) and how its output is read."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dayflow.errors import SpecError, TransformError
from dayflow.spec import DbtJob, load_spec
from dayflow.transforms.dataform_output import parse_run_log
from dayflow.transforms.dbt_profile import build_profile
from dayflow.transforms.partition_vars import PartitionVars, build_vars
from dayflow.transforms.transient import looks_transient

from .semantic_layer import partition

# A `dataform run` log as @dataform/cli 3.0.69 prints it, colours included.
RUN_LOG = """Compiling...

\x1b[32mCompiled successfully.
\x1b[0m
Running...

\x1b[91mAssertion failed: \x1b[0m \x1b[36mdataform_assertions.semantic_orders_status_is_known\x1b[0m
 \t jobId: dataform-1, dataform-2,
 \t Bytes billed: 0 B, 0 B
  >
  >       create or replace view `local.dataform_assertions.semantic_orders_status_is_known` as
  > select order_id from `local.semantic.orders` where event_date = DATE '2024-01-05'
  >
  \x1b[91mbigquery error: Assertion failed: query returned 2 row(s).\x1b[0m
\x1b[33mSkipping dataset creation: \x1b[0m \x1b[36mmart.daily_sales_dataform\x1b[0m [incremental] (Dependency failed)
\x1b[32mOperation completed successfully: \x1b[0m \x1b[36mops.refresh\x1b[0m
 \t jobId: dataform-3,
"""


def test_run_log_is_read_into_per_action_results() -> None:
    found = parse_run_log(RUN_LOG)

    assert [(a.target, a.kind, a.status) for a in found] == [
        ("dataform_assertions.semantic_orders_status_is_known", "assertion", "failed"),
        ("mart.daily_sales_dataform", "model", "skipped"),
        ("ops.refresh", "operation", "succeeded"),
    ]
    assert found[0].job_ids == ["dataform-1", "dataform-2"]
    assert found[0].message == "bigquery error: Assertion failed: query returned 2 row(s)."
    assert found[0].failures == 2
    assert found[1].message == "Dependency failed"
    assert found[2].job_ids == ["dataform-3"]


def test_partition_vars_are_rfc3339_utc_bounds() -> None:
    assert partition("2024-03-31").to_vars() == {
        "partition_key": "2024-03-31",
        "partition_start": "2024-03-30T23:00:00Z",
        "partition_end": "2024-03-31T22:00:00Z",  # a 23-hour day: summer time starts
    }


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("2024-1-5", "partition_key '2024-1-5' is not a partition key (expected YYYY-MM-DD"),
        ("2024-01-05'; DROP", 'partition_key "2024-01-05\'; DROP" is not a partition key'),
    ],
)
def test_partition_vars_reject_what_is_not_a_key(key: str, message: str) -> None:
    start = datetime(2024, 1, 5, tzinfo=UTC)
    with pytest.raises(TransformError, match=re.escape(message)):
        PartitionVars(key, start, start.replace(day=6))


def test_job_vars_cannot_override_the_partition() -> None:
    with pytest.raises(TransformError, match=re.escape("vars 'partition_key' are set by dayflow")):
        build_vars(partition("2024-01-05"), "", {"partition_key": "2024-01-01"})
    with pytest.raises(TransformError, match=r"dataset_prefix 'dev-' is not valid"):
        build_vars(partition("2024-01-05"), "dev-", {})


def test_spec_rejects_reserved_transform_vars(tmp_path: Path) -> None:
    spec = tmp_path / "dayflow.yaml"
    spec.write_text(
        "version: 1\nname: shop\nenvironments: {local: {gcp_project: local}}\n"
        "pipelines:\n  daily:\n    granularity: day\n    timezone: Europe/Stockholm\n"
        "    schedule: '0 2 * * *'\n    start: '2024-01-01'\n    jobs:\n"
        "      mart: {kind: dbt, project_dir: transform/dbt, vars: {partition_end: x}}\n"
    )
    with pytest.raises(
        SpecError,
        match=re.escape(
            "pipelines.daily.jobs.mart.vars: vars 'partition_end' are set by dayflow for each "
            "partition (expected other names than partition_key, partition_start, "
            "partition_end, dataset_prefix)"
        ),
    ):
        load_spec(spec)
    assert DbtJob(kind="dbt", project_dir="p", vars={"min_orders_per_partition": 3}).vars


def test_profile_is_oauth_in_gcp_and_bounded_locally() -> None:
    name, profile = build_profile(
        project="acme-shop-prod",
        dataset="dbt",
        location="europe-north1",
        bigquery_endpoint=None,
        timeout=900,
    )
    gcp = profile["dayflow"]["outputs"][name]
    assert (name, gcp["method"], gcp["location"]) == ("prod", "oauth", "europe-north1")
    assert "api_endpoint" not in gcp
    assert gcp["job_execution_timeout_seconds"] == 900

    name, profile = build_profile(
        project="local",
        dataset="dbt",
        location=None,
        bigquery_endpoint="http://127.0.0.1:9050",
        timeout=900,
        target="dev",
    )
    local = profile["dayflow"]["outputs"][name]
    assert (name, local["method"], local["api_endpoint"]) == (
        "local",
        "oauth-secrets",
        "http://127.0.0.1:9050",
    )
    assert local["job_retries"] == 0
    assert local["job_retry_deadline_seconds"] == 30


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("503 POST https://bigquery.googleapis.com/...: Service Unavailable", True),
        ("Max retries exceeded with url: /bigquery/v2/projects (Connection refused)", True),
        ("reason: connect ECONNREFUSED 127.0.0.1:9050", True),
        ("Syntax error: Unexpected identifier at [3:1]", False),
        ("Got 1500 results, configured to fail if != 0", False),
    ],
)
def test_failures_are_transient_only_for_outages_and_timeouts(
    message: str, transient: bool
) -> None:
    assert looks_transient(message) is transient
