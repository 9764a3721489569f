"""Infra of `http` jobs: the job-runner may invoke exactly the services its http jobs call, and
learns their URLs (looked up by Cloud Run name) through JOB_RUNNER_SERVICE_URLS."""

from __future__ import annotations

import json

import pytest
import yaml
from pulumi_harness import PROJECT_NUMBER, Deploy, Deployment, T

SPEC = {
    "version": 1,
    "name": "fx",
    "environments": {
        "local": {"gcp_project": "local"},
        "dev": {"gcp_project": "acme-fx-dev", "dataset_prefix": "dev_"},
        "prod": {"gcp_project": "acme-fx-prod"},
    },
    "services": {
        "rates": {
            "service_account": "rates-extractor",
            "local": {"command": ["python", "-m", "rates", "{port}"]},
        },
        "prices_api": {"cloud_run_service": "prices", "local": {"command": ["prices"]}},
        "unused": {"local": {"command": ["unused"]}},  # no job calls it: no grant
    },
    "pipelines": {
        "fx_daily": {
            "granularity": "day",
            "timezone": "UTC",
            "schedule": "0 3 * * *",
            "start": "2024-01-01",
            "jobs": {
                "rates": {
                    "kind": "http",
                    "service": "rates",
                    "path": "/extract",
                    "destination": {"dataset": "staging", "table": "rates", "partition_field": "d"},
                },
                "prices": {"kind": "http", "service": "prices_api", "depends_on": ["rates"]},
            },
        }
    },
}


@pytest.fixture(scope="module")
def dev(deploy: Deploy, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    path = tmp_path_factory.mktemp("called") / "dayflow.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    deployment: Deployment = deploy("dev", **{"specPath": str(path), "gcp:project": "acme-fx-dev"})
    return deployment


def job_runner_member(deployment: Deployment) -> str:
    return str(deployment.one(T.ACCOUNT, "sa-job-runner").state["member"])


def test_the_job_runner_invokes_exactly_each_called_service(dev: Deployment) -> None:
    grants = [r for r in dev.of_type(T.SERVICE_IAM) if r.parent_type.endswith("CalledServices")]
    assert sorted((r.name, r.state["name"]) for r in grants) == [
        ("calls-prices", "prices"),
        ("calls-rates", "rates"),
    ]
    for grant in grants:
        assert grant.state["role"] == "roles/run.invoker"
        assert grant.state["member"] == job_runner_member(dev)
        assert (grant.state["project"], grant.state["location"]) == ("acme-fx-dev", "europe-north1")
    # Nothing broader: no project-level invoker, and no other member on these services.
    assert not [r for r in dev.of_type(T.PROJECT_IAM) if r.state["role"] == "roles/run.invoker"]


def test_the_job_runner_learns_each_called_services_url(dev: Deployment) -> None:
    container = dev.one(T.SERVICE, "service").state["template"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["envs"]}
    assert json.loads(env["JOB_RUNNER_SERVICE_URLS"]) == {
        "prices_api": f"https://prices-{PROJECT_NUMBER}.europe-north1.run.app",
        "rates": f"https://rates-{PROJECT_NUMBER}.europe-north1.run.app",
    }


def test_a_dataset_only_a_service_writes_is_created_for_it_and_read_by_the_job_runner(
    dev: Deployment,
) -> None:
    """The http job's destination: infra creates its dataset; the service's own account (named
    in the spec) writes it and may run queries; the job-runner only reads it (checksums)."""
    account = "serviceAccount:rates-extractor@acme-fx-dev.iam.gserviceaccount.com"
    assert dev.by_state(T.DATASET, datasetId="dev_staging")
    grants = dev.by_state(T.DATASET_IAM, datasetId="dev_staging")
    assert sorted((g.state["role"], g.state["member"]) for g in grants) == [
        ("roles/bigquery.dataEditor", account),
        ("roles/bigquery.dataViewer", job_runner_member(dev)),
    ]
    # Job User on the project for the named account only (prices_api names none), and no other
    # grant to it anywhere.
    job_users = [
        r.state["member"]
        for r in dev.of_type(T.PROJECT_IAM)
        if r.parent_type.endswith("CalledServices")
    ]
    assert job_users == [account]
    to_account = [r for r in dev if r.state.get("member") == account]
    assert sorted(r.state["role"] for r in to_account) == [
        "roles/bigquery.dataEditor",
        "roles/bigquery.jobUser",
    ]
