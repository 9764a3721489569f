"""The security policy: every stack passes it, and it catches the resources it exists for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_gcp import bigquery, cloudrunv2, projects, pubsub, storage
from pulumi_harness import Deploy, Deployment, run_under_mocks, write_spec

from dayflow.infra.policy import check_resource, find_violations


def violations(deployment: Deployment) -> list[str]:
    return [str(v) for v in find_violations((r.type, r.name, r.state) for r in deployment)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dev_and_prod_stacks_pass_the_policy(deploy: Deploy, stack: str) -> None:
    deployment = deploy(stack)
    assert len(deployment) > 50
    assert violations(deployment) == []


def test_fifty_pipeline_stack_passes_the_policy(deploy: Deploy, tmp_path: Path) -> None:
    deployment = deploy("prod", specPath=str(write_spec(tmp_path, 50)), transformDatasets=["mart"])
    assert violations(deployment) == []


def test_policy_catches_public_members_basic_roles_and_project_level_bigquery_admin() -> None:
    def bad_program() -> None:
        project = "acme-shop-dev"
        cloudrunv2.ServiceIamMember(
            "public-invoker",
            project=project,
            location="europe-north1",
            name="dayflow-job-runner",
            role="roles/run.invoker",
            member="allUsers",
        )
        cloudrunv2.Service(
            "open-service",
            project=project,
            location="europe-north1",
            invoker_iam_disabled=True,
            template={"containers": [{"image": "busybox"}]},
        )
        pubsub.TopicIAMBinding(
            "any-google-account",
            project=project,
            topic="orders",
            role="roles/pubsub.publisher",
            members=["serviceAccount:ok@x.iam.gserviceaccount.com", "allAuthenticatedUsers"],
        )
        projects.IAMMember("owner", project=project, role="roles/owner", member="user:a@b.c")
        storage.BucketIAMMember(
            "editor", bucket="b", role="roles/editor", member="group:data@acme.example"
        )
        projects.IAMMember(
            "bq-admin", project=project, role="roles/bigquery.admin", member="user:a@b.c"
        )
        projects.IAMPolicy(
            "policy",
            project=project,
            policy_data=json.dumps(
                {"bindings": [{"role": "roles/bigquery.dataOwner", "members": ["user:a@b.c"]}]}
            ),
        )
        bigquery.Dataset(
            "shared",
            dataset_id="shared",
            accesses=[{"role": "READER", "special_group": "allAuthenticatedUsers"}],
        )
        # Allowed: BigQuery admin of a single dataset is not project-level.
        bigquery.DatasetIamMember(
            "dataset-admin", dataset_id="mart", role="roles/bigquery.admin", member="user:a@b.c"
        )

    found = violations(run_under_mocks(bad_program))
    flagged = sorted({v.split("::")[1].split(":")[0] for v in found})
    assert flagged == [
        "any-google-account",
        "bq-admin",
        "editor",
        "open-service",
        "owner",
        "policy",
        "public-invoker",
        "shared",
    ]
    assert "gcp:cloudrunv2/serviceIamMember:ServiceIamMember::public-invoker: public member " in (
        "".join(found)
    )


def test_policy_reads_snake_case_inputs_too() -> None:
    found = check_resource(
        "gcp:cloudrunv2/service:Service", "svc", {"invoker_iam_disabled": True, "labels": {}}
    )
    assert [v.rule for v in found] == ["public service"]
    assert (
        check_resource("gcp:projects/iAMMember:IAMMember", "ok", {"role": "roles/bigquery.jobUser"})
        == []
    )


def test_policy_refuses_every_basic_role_including_viewer_on_a_table() -> None:
    # Owner, Editor and Viewer are the basic roles
    # (https://cloud.google.com/iam/docs/roles-overview#basic): never granted, at any level.
    for role in ("roles/owner", "roles/editor", "roles/viewer"):
        found = check_resource(
            "gcp:bigquery/iamMember:IamMember", "t", {"role": role, "member": "group:g@x.example"}
        )
        assert [v.rule for v in found] == ["basic role"]


def test_domain_stacks_pass_the_policy_with_team_groups_and_consumed_tables(
    tmp_path: Path,
) -> None:
    from tests.domains.projects import write_domains
    from tests.infra.pulumi_harness import run_program

    a, b = write_domains(tmp_path)
    for project in (a, b):
        assert violations(run_program("dev", project_dir=project)) == []
