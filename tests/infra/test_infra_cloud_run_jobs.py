"""Infra of `cloud_run_job` jobs under Pulumi mocks: the Cloud Run Job from the spec, its own
least-privilege account, and the job-runner allowed to run exactly it with overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_harness import Deploy, Deployment, Registered

from dayflow.infra.components.cloud_run_jobs import RUN_WITH_OVERRIDES_ROLE, get_cloud_run_jobs
from dayflow.spec import load_spec

IMAGE = "europe-north1-docker.pkg.dev/acme-shared/dayflow/job-runner@sha256:" + "ab" * 32
OWN_IMAGE = "europe-north1-docker.pkg.dev/acme-shared/tools/exporter:1.4.2"


def write_spec(folder: Path) -> Path:
    (folder / "stage.sql").write_text("SELECT @partition_date AS d, 1 AS n")
    spec: dict[str, Any] = {
        "version": 1,
        "name": "meters",
        "environments": {
            "local": {"gcp_project": "local"},
            "dev": {"gcp_project": "acme-shop-dev", "dataset_prefix": "dev_"},
        },
        "sources": {"raw": {"description": "readings"}},
        "pipelines": {
            "daily": {
                "granularity": "day",
                "timezone": "Europe/Stockholm",
                "schedule": "0 2 * * *",
                "start": "2024-01-01",
                "jobs": {
                    "stage": {
                        "kind": "bigquery_sql",
                        "sql": "stage.sql",
                        "destination": {"dataset": "staging", "table": "t", "partition_field": "d"},
                    },
                    "score": {
                        "kind": "cloud_run_job",
                        "command": ["python", "jobs/score.py"],
                        "args": ["--fast"],
                        "env": {"MODEL": "v2"},
                        "depends_on": ["stage"],
                        "reads": ["staging", "raw"],
                        "destination": {
                            "dataset": "mart",
                            "table": "scores",
                            "partition_field": "score_date",
                        },
                        "max_retries": 2,
                        "timeout_seconds": 600,
                        "memory": "1Gi",
                    },
                    "export": {
                        "kind": "cloud_run_job",
                        "image": OWN_IMAGE,
                        "command": ["/exporter"],
                    },
                },
            }
        },
    }
    path = folder / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_spec(tmp_path_factory.mktemp("cloud-run-jobs"))


@pytest.fixture(scope="module")
def deployed(deploy: Deploy, spec_path: Path) -> Deployment:
    return deploy("dev", specPath=str(spec_path), image=IMAGE, operators=None)


def job(deployed: Deployment, key: str) -> Registered:
    return deployed.one("gcp:cloudrunv2/job:Job", f"job-{key}")


def account_email(deployed: Deployment, key: str) -> str:
    email: str = deployed.one("gcp:serviceaccount/account:Account", f"sa-job-{key}").state["email"]
    return email


def test_cloud_run_job_is_created_from_the_spec_with_its_own_account(
    deployed: Deployment,
) -> None:
    score = job(deployed, "daily-score").state
    template = score["template"]["template"]
    (container,) = template["containers"]

    assert score["name"] == "dayflow-daily-score"
    assert score["location"] == "europe-north1"
    assert template["serviceAccount"] == account_email(deployed, "daily-score")
    assert (template["maxRetries"], template["timeout"]) == (2, "600s")
    assert score["template"]["taskCount"] == 1
    assert container["image"] == IMAGE  # the project's own image, as the job-runner's
    assert (container["commands"], container["args"]) == (["python", "jobs/score.py"], ["--fast"])
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    env = {e["name"]: e["value"] for e in container["envs"]}
    assert env == {
        "MODEL": "v2",
        "DAYFLOW_ENV": "dev",
        "DAYFLOW_GCP_PROJECT": "acme-shop-dev",
        "DAYFLOW_DATASET_PREFIX": "dev_",
        "DAYFLOW_BIGQUERY_LOCATION": "europe-north1",
        "DAYFLOW_PIPELINE": "daily",
        "DAYFLOW_JOB": "score",
        "DAYFLOW_DESTINATION_TABLE": "acme-shop-dev.dev_mart.scores",
    }
    export = job(deployed, "daily-export").state["template"]["template"]
    assert export["containers"][0]["image"] == OWN_IMAGE
    assert export["serviceAccount"] == account_email(deployed, "daily-export")
    assert account_email(deployed, "daily-score") != account_email(deployed, "daily-export")


def test_cloud_run_job_account_reads_and_writes_exactly_its_datasets(
    deployed: Deployment,
) -> None:
    member = f"serviceAccount:{account_email(deployed, 'daily-score')}"
    grants = {
        (r.state["datasetId"], r.state["role"])
        for r in deployed.by_state("gcp:bigquery/datasetIamMember:DatasetIamMember", member=member)
    }
    project_roles = {
        r.state["role"]
        for r in deployed.by_state("gcp:projects/iAMMember:IAMMember", member=member)
    }

    assert grants == {
        ("dev_mart", "roles/bigquery.dataEditor"),
        ("dev_staging", "roles/bigquery.dataViewer"),
        ("raw", "roles/bigquery.dataViewer"),
    }
    assert project_roles == {"roles/bigquery.jobUser"}
    export = f"serviceAccount:{account_email(deployed, 'daily-export')}"
    assert not deployed.by_state("gcp:bigquery/datasetIamMember:DatasetIamMember", member=export)
    # Its destination's dataset exists: infra creates it like any destination's.
    assert deployed.by_state("gcp:bigquery/dataset:Dataset", datasetId="dev_mart")


def test_job_runner_may_run_each_job_with_overrides_and_nothing_more(
    deployed: Deployment,
) -> None:
    runner = deployed.one("gcp:serviceaccount/account:Account", "sa-job-runner").state["member"]
    grants = deployed.of_type("gcp:cloudrunv2/jobIamMember:JobIamMember")

    assert sorted((g.state["name"], g.state["role"], g.state["member"]) for g in grants) == [
        ("dayflow-daily-export", RUN_WITH_OVERRIDES_ROLE, runner),
        ("dayflow-daily-score", RUN_WITH_OVERRIDES_ROLE, runner),
    ]
    # No act-as on the jobs' accounts: executing a job does not need it.
    acting = deployed.by_state(
        "gcp:serviceaccount/iAMMember:IAMMember", role="roles/iam.serviceAccountUser"
    )
    assert not [g for g in acting if "job-daily" in g.name]


def test_cloud_run_job_is_created_after_its_grants(deployed: Deployment) -> None:
    waits_for = deployed.get_all_dependencies(job(deployed, "daily-score"))
    grants = [
        r
        for r in deployed.of_type("gcp:bigquery/datasetIamMember:DatasetIamMember")
        if r.name.startswith("job-daily-score-")
    ]

    assert len(grants) == 3
    assert {g.urn for g in grants} <= waits_for


def test_get_cloud_run_jobs_defaults_to_the_project_image(spec_path: Path) -> None:
    jobs = {j.job: j for j in get_cloud_run_jobs(load_spec(spec_path), "dev", IMAGE)}

    assert (jobs["score"].image, jobs["export"].image) == (IMAGE, OWN_IMAGE)
    assert (jobs["score"].writes, jobs["score"].reads, jobs["score"].source_reads) == (
        ("mart",),
        ("staging",),
        ("raw",),
    )
