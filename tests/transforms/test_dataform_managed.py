"""Dataform jobs through the managed Dataform API, driven against a fake of that API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dayflow.errors import TransformError
from dayflow.spec import DataformJob, ManagedDataform
from dayflow.transforms.dataform import run_dataform
from dayflow.transforms.dataform_managed import get_repository_name, run_managed_dataform
from dayflow.transforms.results import TransformResult

from .fake_dataform import FakeDataform, ScriptedAction
from .semantic_layer import PROJECT, Semantic, partition

REPOSITORY = "projects/acme-shop-prod/locations/europe-north1/repositories/shop"
ACTIONS = [
    ScriptedAction("semantic_orders_status_is_known", "assertion", schema="dataform_assertions"),
    ScriptedAction("daily_sales_dataform"),
    ScriptedAction("daily_sales_dataform_min_orders", "assertion", schema="dataform_assertions"),
]


def managed_job(**fields: object) -> DataformJob:
    return DataformJob(
        kind="dataform",
        project_dir="dataform",
        managed=ManagedDataform(repository="shop", git_commitish="v1.2.0"),
        **fields,  # type: ignore[arg-type]
    )


def run(fake: FakeDataform, job: DataformJob | None = None) -> TransformResult:
    return run_dataform(
        job or managed_job(tags=["daily_sales"]),
        spec_root=PROJECT,
        partition=partition("2024-01-05"),
        project="acme-shop-prod",
        dataset_prefix="",
        bigquery_endpoint=None,
        timeout=600,
        location="europe-north1",
        dataform_client=fake,
    )


def test_managed_run_compiles_with_the_partition_vars_and_invokes_the_tags() -> None:
    fake = FakeDataform(ACTIONS)

    result = run(fake, managed_job(tags=["daily_sales"], vars={"min_orders_per_partition": 5}))

    assert result.success, result.error
    compilation = fake.compilations[0]
    assert compilation.name.startswith(REPOSITORY + "/compilationResults/")
    assert compilation.git_commitish == "v1.2.0"
    config = compilation.code_compilation_config
    assert dict(config.vars) == {
        "partition_key": "2024-01-05",
        "partition_start": "2024-01-04T23:00:00Z",
        "partition_end": "2024-01-05T23:00:00Z",
        "dataset_prefix": "",
        "min_orders_per_partition": "5",
    }
    assert (config.default_database, config.default_location) == (
        "acme-shop-prod",
        "europe-north1",
    )
    invocation = fake.invocations[0]
    assert invocation.compilation_result == compilation.name
    assert list(invocation.invocation_config.included_tags) == ["daily_sales"]
    assert [(n.name, n.kind, n.status, n.seconds) for n in result.nodes] == [
        ("semantic_orders_status_is_known", "assertion", "succeeded", 1.5),
        ("daily_sales_dataform", "model", "succeeded", 1.5),
        ("daily_sales_dataform_min_orders", "assertion", "succeeded", 1.5),
    ]
    assert result.nodes[1].bigquery_job_ids == ("job-1",)


def test_managed_failing_assertion_fails_the_run_naming_it() -> None:
    actions = [
        *ACTIONS[:2],
        ScriptedAction(
            "daily_sales_dataform_min_orders",
            "assertion",
            state="FAILED",
            failure_reason="Assertion failed: query returned 1 row(s).",
            schema="dataform_assertions",
        ),
    ]

    result = run(FakeDataform(actions))

    assert not result.success
    assert not result.transient
    assert result.error == (
        "dataform assertion failed: daily_sales_dataform_min_orders (1 failing row)"
    )


def run_with_fake_clock(fake: FakeDataform, timeout: float) -> tuple[TransformResult, list[float]]:
    now, sleeps = [0.0], []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    result = run_managed_dataform(
        managed_job(tags=["daily_sales"]),
        run_vars={"partition_key": "2024-01-05"},
        project="acme-shop-prod",
        location="europe-north1",
        timeout=timeout,
        client=fake,
        sleep=sleep,
        clock=lambda: now[0],
    )
    return result, sleeps


def test_managed_invocation_is_polled_with_backoff_until_it_ends() -> None:
    fake = FakeDataform(ACTIONS, polls_until_done=3)

    result, sleeps = run_with_fake_clock(fake, timeout=600)

    assert result.success, result.error
    assert sleeps == [1, 2, 4]
    assert fake.polls == 3


def test_managed_invocation_is_cancelled_when_the_timeout_fires() -> None:
    fake = FakeDataform(ACTIONS, polls_until_done=None)

    result, sleeps = run_with_fake_clock(fake, timeout=60)

    assert ("cancel_workflow_invocation", {"name": fake.invocations[0].name}) in fake.calls
    assert not result.success
    assert result.transient
    assert sum(sleeps) == 60
    assert "cancelled after 60 s" in (result.error or "")
    assert {n.status for n in result.nodes} == {"cancelled"}


def test_managed_compilation_errors_are_raised_naming_the_file() -> None:
    fake = FakeDataform(ACTIONS, compilation_errors=[("definitions/x.sqlx", "nope is not defined")])

    with pytest.raises(
        TransformError,
        match=re.escape(
            f"Dataform repository {REPOSITORY} at 'v1.2.0' does not compile: "
            "definitions/x.sqlx: nope is not defined"
        ),
    ):
        run(fake)
    assert not fake.invocations


def test_managed_actions_are_resolved_to_their_targets() -> None:
    fake = FakeDataform(ACTIONS)

    assert run(fake, managed_job(actions=["daily_sales_dataform"])).success

    (target,) = fake.invocations[0].invocation_config.included_targets
    assert (target.database, target.schema, target.name) == (
        "acme-shop-prod",
        "mart",
        "daily_sales_dataform",
    )


def test_managed_unknown_action_is_rejected_before_invoking() -> None:
    fake = FakeDataform(ACTIONS)

    with pytest.raises(TransformError, match=r"action 'daily_sale' is not in repository"):
        run(fake, managed_job(actions=["daily_sale"]))
    assert not fake.invocations


def test_repository_name_is_built_from_a_bare_id() -> None:
    assert get_repository_name("shop", "acme-shop-prod", "europe-north1") == REPOSITORY
    assert get_repository_name(REPOSITORY, "other", None) == REPOSITORY
    with pytest.raises(TransformError, match=r"needs a location"):
        get_repository_name("shop", "acme-shop-prod", None)


@pytest.mark.emulator
def test_managed_job_runs_through_the_cli_against_the_emulator(
    semantic: Semantic, tmp_path: Path
) -> None:
    fake = FakeDataform(ACTIONS)

    result = run_dataform(
        managed_job(actions=["semantic_orders_status_is_known"]),
        spec_root=PROJECT,
        partition=partition("2024-01-05"),
        project="local",
        dataset_prefix=semantic.prefix,
        bigquery_endpoint=semantic.endpoint,
        timeout=120,
        dataform_client=fake,
    )

    assert result.success, result.error
    assert fake.calls == []
