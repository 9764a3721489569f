"""What infra derives from a spec without Pulumi: tables, dataset roles, names, archives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pulumi_harness import write_files, write_spec

from dayflow.infra import catalog
from dayflow.infra.naming import (
    ServiceNameError,
    check_service_name,
    get_account_id,
    get_service_name,
    get_workflow_name,
)
from dayflow.infra.source_archive import build_source_archive
from dayflow.semantic import get_semantic_table
from dayflow.spec import DedupJob, load_spec
from tests.conftest import PROJECT

SPEC = load_spec(PROJECT / "dayflow.yaml")


def test_project_owns_the_ledger_ingest_and_dead_letter_tables() -> None:
    tables = [(t.dataset, t.table) for t in catalog.get_owned_tables(SPEC)]
    assert tables == [
        ("dayflow", "dayflow_runs"),
        ("ingest", "events_orders"),
        ("ingest", "events_customers"),
        ("ingest", "dead_letter"),
        ("semantic", "orders"),
        ("semantic", "customers"),
    ]


def test_dataset_roles_give_editor_where_written_and_viewer_elsewhere() -> None:
    roles = catalog.get_dataset_roles(SPEC)
    assert roles == {
        "job_runner": {
            "dayflow": catalog.DATA_EDITOR,
            "staging": catalog.DATA_EDITOR,
            "mart": catalog.DATA_EDITOR,
            "semantic": catalog.DATA_EDITOR,
            "ingest": catalog.DATA_VIEWER,
        },
        "ingest": {"ingest": catalog.DATA_EDITOR},
        # The tests project's dbt job: reads and writes what it declares (`reads: [semantic]`,
        # `writes: [mart]`); the ledger, ingest and staging stay out of its reach.
        "dbt": {"semantic": catalog.DATA_VIEWER, "mart": catalog.DATA_EDITOR},
    }
    assert catalog.get_source_datasets(SPEC) == {"job_runner": ("raw",)}


def test_transform_accounts_write_exactly_the_datasets_their_jobs_declare(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, 10, num_topics=2))
    roles = catalog.get_dataset_roles(spec)
    editor = catalog.DATA_EDITOR
    assert {d for d, r in roles["dbt"].items() if r == editor} == {"mart"}
    assert {d for d, r in roles["dataform"].items() if r == editor} == {
        "mart",
        "dataform_assertions",
    }
    # A declared dataset is created like any other, and only its writers may write it.
    assert "dataform_assertions" in catalog.get_datasets(spec)
    assert "mart" not in roles["ingest"]
    # Nobody else reads what only Dataform writes, unless a job says so.
    assert "dataform_assertions" not in roles["dbt"]
    assert "dataform_assertions" not in roles["job_runner"]


def test_transform_accounts_read_the_datasets_and_sources_their_jobs_declare(
    tmp_path: Path,
) -> None:
    path = write_spec(tmp_path, 10, num_topics=2)
    raw = yaml.safe_load(path.read_text())
    raw["sources"] = {"crm": {"description": "the CRM export"}}
    jobs = raw["pipelines"]["pipeline_3"]["jobs"]
    jobs["models"]["reads"] = ["semantic", "crm"]
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path)
    roles = catalog.get_dataset_roles(spec)
    assert roles["dbt"] == {"semantic": catalog.DATA_VIEWER, "mart": catalog.DATA_EDITOR}
    sources = catalog.get_source_datasets(spec)
    assert sources["job_runner"] == ("crm",)
    assert sources["dbt"] == ("crm",)
    assert "dataform" not in sources
    # A source is read, never created.
    assert "crm" not in catalog.get_datasets(spec)


def test_the_job_runner_reads_a_transform_dataset_only_when_sql_names_it(tmp_path: Path) -> None:
    path = write_spec(tmp_path, 10, num_topics=2)
    spec = load_spec(path)
    assert "dataform_assertions" not in catalog.get_dataset_roles(spec)["job_runner"]
    raw = yaml.safe_load(path.read_text())
    sql = tmp_path / "checks.sql"
    sql.write_text("SELECT * FROM {{ dataset:dataform_assertions }}.failures")
    jobs = raw["pipelines"]["pipeline_0"]["jobs"]
    destination = {**jobs["load"]["destination"], "table": "checks"}
    jobs["checks"] = {"kind": "bigquery_sql", "sql": str(sql), "destination": destination}
    path.write_text(yaml.safe_dump(raw))
    roles = catalog.get_dataset_roles(load_spec(path))
    assert roles["job_runner"]["dataform_assertions"] == catalog.DATA_VIEWER


def test_a_dbt_job_without_writes_writes_its_profile_dataset(tmp_path: Path) -> None:
    path = write_spec(tmp_path, 10, num_topics=2)
    raw = yaml.safe_load(path.read_text())
    del raw["pipelines"]["pipeline_3"]["jobs"]["models"]["writes"]
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path)
    roles = catalog.get_dataset_roles(spec)
    assert {d for d, r in roles["dbt"].items() if r == catalog.DATA_EDITOR} == {"dbt"}


def test_semantic_tables_are_those_the_dedup_jobs_write(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, 2, num_topics=1))
    owned = {t.table: t for t in catalog.get_owned_tables(spec)}
    for pipeline in spec.pipelines.values():
        job = pipeline.jobs["dedup"]
        assert isinstance(job, DedupJob)
        expected = get_semantic_table(job.topic, spec.topics[job.topic], job)
        assert owned[job.destination.table] == expected
        assert expected.dataset == "semantic"


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        ("job-runner", "dayflow-job-runner"),
        ("wf-run_partition", "dayflow-wf-run-partition"),
        ("wf-" + "very_long_workflow_name_" * 3, None),
    ],
)
def test_account_ids_fit_gcp_rules(workload: str, expected: str | None) -> None:
    account = get_account_id(workload)
    assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account), account
    if expected:
        assert account == expected
    assert get_account_id(workload) == account  # deterministic


def test_long_names_are_shortened_distinctly_within_cloud_runs_49_characters() -> None:
    # Cloud Run serviceId "must contain fewer than 50 characters":
    # https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/create
    a = get_service_name("ingest", "t" * 80 + "_a")
    b = get_service_name("ingest", "t" * 80 + "_b")
    assert len(a) == len(b) == 49
    assert a != b
    assert len(get_service_name("ingest", "t" * 42)) == 49  # 49 fits as it is
    assert get_service_name("ingest", "t" * 42) == "ingest-" + "t" * 42


@pytest.mark.parametrize(
    ("name", "why"),
    [("x" * 50, "50 characters"), ("1st-service", "11 characters"), ("ends-", "5 characters")],
)
def test_a_service_name_cloud_run_would_refuse_is_a_clear_error(name: str, why: str) -> None:
    with pytest.raises(
        ServiceNameError,
        match=re.escape(
            f"service name {name!r} ({why}) is not a valid Cloud Run service or gen2 "
            "function name (expected at most 49 characters"
        ),
    ):
        check_service_name(name)


def test_workflow_names_are_the_file_stems() -> None:
    assert get_workflow_name("run_partition") == "run_partition"
    with pytest.raises(ValueError, match=re.escape("workflow file stem '1st' is not a valid")):
        get_workflow_name("1st")


def test_source_archive_hash_changes_with_content_only(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "fn", {"main.py": "x = 1\n", "lib/util.py": "y = 2\n"})
    first = build_source_archive(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "main.cpython-313.pyc").write_bytes(b"\0")
    assert build_source_archive(folder).digest == first.digest
    assert first.files == ("lib/util.py", "main.py")
    assert re.fullmatch(r"fn/[0-9a-f]{16}\.zip", first.object_name)

    (folder / "main.py").write_text("x = 2\n")
    assert build_source_archive(folder).digest != first.digest
    generated = build_source_archive(folder, {"config.json": "{}"})
    assert "config.json" in generated.files
    assert generated.digest != build_source_archive(folder, {"config.json": "[]"}).digest


def test_source_archive_needs_a_main_module(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("no main.py")):
        build_source_archive(tmp_path)


def test_dataform_repositories_given_by_full_name_are_not_created(tmp_path: Path) -> None:
    path = write_spec(tmp_path, 16, num_topics=1)
    text = path.read_text().replace(
        "repository: repo_1", "repository: projects/other/locations/eu/repositories/shared", 1
    )
    path.write_text(text)
    repos = [r.repository for r in catalog.get_managed_dataform(load_spec(path))]
    assert repos == ["repo_1"]  # pipeline 5 now names the shared one; pipeline 15 still repo_1
