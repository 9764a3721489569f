"""A generated 50-pipeline spec with every job kind: it builds, and transformations are wired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_harness import Deploy, Deployment, T, write_spec

from dayflow.spec import load_spec

NUM_PIPELINES = 50
TOKEN = "ghp_not-a-real-token"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
AGENT = "serviceAccount:service-123456789012@gcp-sa-dataform.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = write_spec(tmp_path_factory.mktemp("fifty"), NUM_PIPELINES)
    return path


@pytest.fixture(scope="module")
def fifty(deploy: Deploy, spec_path: Path) -> Deployment:
    return deploy(
        "prod",
        secrets=("dataformGitToken",),
        specPath=str(spec_path),
        dataformGitRemotes={"repo_1": "https://github.com/acme/dataform.git"},
        dataformGitToken=TOKEN,
    )


def member(deployment: Deployment, workload: str) -> str:
    return str(deployment.one(T.ACCOUNT, f"sa-{workload}").state["member"])


def test_fifty_pipelines_build_one_schedule_each(fifty: Deployment, spec_path: Path) -> None:
    spec = load_spec(spec_path)
    schedules = {j.state["name"]: j.state for j in fifty.of_type(T.SCHEDULE)}
    assert len(schedules) == NUM_PIPELINES
    for name, pipeline in spec.pipelines.items():
        job = schedules[f"dayflow-{name.replace('_', '-')}"]
        assert (job["schedule"], job["timeZone"]) == (pipeline.schedule, pipeline.timezone)
        assert job["httpTarget"]["uri"].endswith(f"/triggers/{name}")
    assert len(fifty.of_type(T.FUNCTION)) == len(spec.topics) == 10


def test_semantic_tables_follow_their_dedup_destination(fifty: Deployment) -> None:
    daily = fifty.one(T.TABLE, "table-semantic-events_0").state
    assert daily["timePartitioning"] == {"type": "DAY", "field": "event_date"}
    assert daily["requirePartitionFilter"] is True
    assert daily["clusterings"] == ["id"]
    columns = {c["name"]: c for c in json.loads(daily["schema"])}
    assert columns["event_date"]["type"] == "DATE"
    assert columns["event_date"]["mode"] == "REQUIRED"
    assert columns["amount"]["type"] == "FLOAT"  # BigQuery's own name for FLOAT64
    assert columns["tags"]["type"] == "JSON"

    # Hourly pipelines too: daily partitions, an hour is replaced by its bounds within the day.
    hourly_history = fifty.one(T.TABLE, "table-semantic-events_13").state
    assert hourly_history["timePartitioning"] == {"type": "DAY", "field": "updated_at"}
    names = [c["name"] for c in json.loads(hourly_history["schema"])]
    assert names[-3:] == ["valid_from", "valid_to", "is_current"]


def test_sql_destinations_get_datasets_but_no_tables(fifty: Deployment) -> None:
    datasets = {d.state["datasetId"] for d in fifty.of_type(T.DATASET)}
    assert {f"staging_{i}" for i in range(5)} <= datasets
    assert not [t for t in fifty.of_type(T.TABLE) if t.state["datasetId"].startswith("staging")]


def test_dbt_runs_as_its_own_account_impersonated_by_the_job_runner(fifty: Deployment) -> None:
    impersonation = fifty.one(T.ACCOUNT_IAM, "dbt-impersonation").state
    assert impersonation["serviceAccountId"] == fifty.one(T.ACCOUNT, "sa-dbt").state["name"]
    assert impersonation["role"] == "roles/iam.serviceAccountTokenCreator"
    assert impersonation["member"] == member(fifty, "job-runner")
    envs = {
        e["name"]: e["value"]
        for e in fifty.one(T.SERVICE, "service").state["template"]["containers"][0]["envs"]
    }
    assert (
        envs["JOB_RUNNER_DBT_SERVICE_ACCOUNT"]
        == "dayflow-dbt@acme-shop-prod.iam.gserviceaccount.com"
    )
    assert envs["JOB_RUNNER_DATAFORM_SERVICE_ACCOUNT"] == (
        "dayflow-dataform@acme-shop-prod.iam.gserviceaccount.com"
    )


def test_transform_accounts_write_and_read_only_the_datasets_their_jobs_declare(
    fifty: Deployment,
) -> None:
    declared = {"dbt": {"mart"}, "dataform": {"mart", "dataform_assertions"}}
    for workload, writes in declared.items():
        roles = {
            g.state["datasetId"]: g.state["role"]
            for g in fifty.of_type(T.DATASET_IAM)
            if g.state["member"] == member(fifty, workload)
        }
        assert {d for d, r in roles.items() if r == "roles/bigquery.dataEditor"} == writes
        # `reads: [semantic]`: nothing else, so neither the ledger nor the ingest tables.
        assert {d for d, r in roles.items() if r == "roles/bigquery.dataViewer"} == {"semantic"}
        # Queries run in the project; table access comes from the dataset roles above.
        assert fifty.by_state(
            T.PROJECT_IAM, role="roles/bigquery.jobUser", member=member(fifty, workload)
        )


def test_the_job_runner_may_impersonate_the_transform_accounts_and_no_other(
    fifty: Deployment,
) -> None:
    runner = member(fifty, "job-runner")
    token_creator = {
        g.state["serviceAccountId"]
        for g in fifty.of_type(T.ACCOUNT_IAM)
        if g.state["member"] == runner and g.state["role"] == "roles/iam.serviceAccountTokenCreator"
    }
    assert token_creator == {
        fifty.one(T.ACCOUNT, f"sa-{w}").state["name"] for w in ("dbt", "dataform")
    }


def test_managed_dataform_repositories_run_as_the_dataform_account(fifty: Deployment) -> None:
    repos = {r.state["name"]: r.state for r in fifty.of_type(T.REPOSITORY)}
    assert set(repos) == {"repo_1"}  # pipelines 5, 15, 25...: i % 2 == 1
    assert (
        repos["repo_1"]["serviceAccount"]
        == "dayflow-dataform@acme-shop-prod.iam.gserviceaccount.com"
    )
    assert repos["repo_1"]["gitRemoteSettings"] == {
        "url": "https://github.com/acme/dataform.git",
        "defaultBranch": "main",
        "authenticationTokenSecretVersion": (
            "projects/123456789012/secrets/dataform-git-token/versions/1"
        ),
    }
    editor = fifty.one(T.REPOSITORY_IAM, "repository-editor-repo_1").state
    assert (editor["role"], editor["member"]) == (
        "roles/dataform.editor",
        member(fifty, "job-runner"),
    )
    agent_grant = fifty.one(T.ACCOUNT_IAM, "dataform-agent-token-creator").state
    assert (agent_grant["member"], agent_grant["role"]) == (
        AGENT,
        "roles/iam.serviceAccountTokenCreator",
    )
    accessor = fifty.by_state("gcp:secretmanager/secretIamMember:SecretIamMember", member=AGENT)
    assert [a.state["role"] for a in accessor] == ["roles/secretmanager.secretAccessor"]


def test_git_token_reaches_secret_manager_only(fifty: Deployment) -> None:
    version = fifty.one(T.SECRET_VERSION, "dataform-git-token").state
    # Sent to the engine as a secret (Pulumi's secret signature wraps the value).
    assert version["secretData"] == {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": TOKEN}
    leaked = [r.urn for r in fifty if r.type != T.SECRET_VERSION and "ghp_" in repr(r.state)]
    assert leaked == []
