"""A fresh project: APIs enabled first, service agents created before grants, grants before use.

Dependencies are read from the mock engine (`Deployment.dependencies`: explicit `depends_on`
plus inputs taken from other resources' outputs), followed transitively, as the engine orders
creation.
"""

from __future__ import annotations

from pulumi_harness import Deploy, Deployment, Registered, T

# The API each resource type is created through (Google's API per product).
TYPE_APIS = {
    "gcp:serviceaccount/": "iam.googleapis.com",
    "gcp:projects/iAMMember": "cloudresourcemanager.googleapis.com",
    "gcp:bigquery/": "bigquery.googleapis.com",
    "gcp:cloudrunv2/": "run.googleapis.com",
    "gcp:workflows/": "workflows.googleapis.com",
    "gcp:cloudscheduler/": "cloudscheduler.googleapis.com",
    "gcp:pubsub/": "pubsub.googleapis.com",
    "gcp:storage/": "storage.googleapis.com",
    "gcp:artifactregistry/": "artifactregistry.googleapis.com",
    "gcp:cloudfunctionsv2/": "cloudfunctions.googleapis.com",
    "gcp:dataform/": "dataform.googleapis.com",
    "gcp:secretmanager/": "secretmanager.googleapis.com",
}
# What the workloads call at run time, so their API must be on before they run.
RUNTIME_APIS = {
    "iamcredentials.googleapis.com",  # the job-runner impersonates dbt and Dataform
    "workflowexecutions.googleapis.com",  # the job-runner and backfills start executions
    "cloudbuild.googleapis.com",  # gen2 functions are built by Cloud Build
    "logging.googleapis.com",
    # BigQuery reports each job's lineage to Dataplex once the Data Lineage API is on
    # (https://cloud.google.com/dataplex/docs/use-lineage: "Data lineage tracks lineage
    # information automatically when you enable the Data Lineage API").
    "datalineage.googleapis.com",
}


def api_urns(deployment: Deployment) -> dict[str, str]:
    return {str(r.state["service"]): r.urn for r in deployment.of_type(T.API)}


def needed_api(resource: Registered) -> str | None:
    return next(
        (api for prefix, api in TYPE_APIS.items() if resource.type.startswith(prefix)), None
    )


def test_every_api_is_enabled_and_never_disabled_on_destroy(dev: Deployment) -> None:
    apis = {r.state["service"]: r.state for r in dev.of_type(T.API)}
    # The tests project has no Dataform job: no Dataform or Secret Manager API.
    unused = {"dataform.googleapis.com", "secretmanager.googleapis.com"}
    assert (set(TYPE_APIS.values()) | RUNTIME_APIS) - unused <= set(apis)
    assert not unused & set(apis)
    assert {"iam.googleapis.com", "cloudresourcemanager.googleapis.com"} <= set(apis)
    for state in apis.values():
        assert state["disableOnDestroy"] is False
        assert state["project"] == "acme-shop-dev"


def test_every_resource_waits_for_the_api_it_is_created_through(dev: Deployment) -> None:
    urns = api_urns(dev)
    missing = [
        (r.name, api)
        for r in dev
        if not r.is_component
        and (api := needed_api(r)) is not None
        and urns[api] not in dev.get_all_dependencies(r)
    ]
    assert missing == []


def test_eventarc_api_is_enabled_only_for_eventarc_delivery(deploy: Deploy) -> None:
    assert "eventarc.googleapis.com" not in api_urns(deploy("dev"))
    assert "eventarc.googleapis.com" in api_urns(deploy("dev", ingestDelivery="eventarc"))


def test_service_agents_come_from_service_identity_before_their_grants(dev: Deployment) -> None:
    agents = {r.state["service"]: r for r in dev.of_type(T.AGENT)}
    pubsub = agents["pubsub.googleapis.com"]
    assert pubsub.state["member"] == (
        "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    )
    assert api_urns(dev)["pubsub.googleapis.com"] in dev.get_all_dependencies(pubsub)
    grants = [r for r in dev if r.state.get("member") == pubsub.state["member"] and r != pubsub]
    assert {g.type for g in grants} == {T.TOPIC_IAM, T.SUBSCRIPTION_IAM, T.ACCOUNT_IAM}
    for grant in grants:
        assert pubsub.urn in dev.get_all_dependencies(grant), grant.name


def test_push_subscriptions_wait_for_every_grant_their_delivery_uses(dev: Deployment) -> None:
    for push in [s for s in dev.of_type(T.SUBSCRIPTION) if s.name.startswith("push-")]:
        topic = push.name.removeprefix("push-")
        deps = dev.get_all_dependencies(push)
        for grant in (
            dev.one(T.SERVICE_IAM, f"invoker-{topic}"),
            dev.one(T.ACCOUNT_IAM, "pubsub-agent-token-creator"),
            dev.one(T.TOPIC_IAM, f"dead-letter-publisher-{topic}"),
        ):
            assert grant.urn in deps, (push.name, grant.name)


def test_functions_wait_for_the_build_accounts_grants(dev: Deployment) -> None:
    for function in dev.of_type(T.FUNCTION):
        deps = dev.get_all_dependencies(function)
        for name in ("build-log-writer", "build-source-reader", "build-image-writer"):
            assert any(r.urn in deps for r in dev if r.name == name), (function.name, name)


def test_schedules_and_workflows_wait_for_their_invoker_grant(dev: Deployment) -> None:
    scheduler_grant = dev.one(T.SERVICE_IAM, "invoker-scheduler")
    for job in dev.of_type(T.SCHEDULE):
        assert scheduler_grant.urn in dev.get_all_dependencies(job)
    workflows_grant = dev.one(T.SERVICE_IAM, "invoker-workflows")
    for workflow in dev.of_type(T.WORKFLOW):
        assert workflows_grant.urn in dev.get_all_dependencies(workflow)


def test_dataform_repositories_wait_for_the_agent_and_its_grants(deploy: Deploy) -> None:
    import tempfile
    from pathlib import Path

    from pulumi_harness import write_spec

    spec = write_spec(Path(tempfile.mkdtemp()), 10, num_topics=1)
    deployment = deploy(
        "prod",
        secrets=("dataformGitToken",),
        specPath=str(spec),
        dataformGitRemotes={"repo_1": "https://github.com/acme/dataform.git"},
        dataformGitToken="not-a-token",
    )
    agent = next(
        a for a in deployment.of_type(T.AGENT) if a.state["service"].startswith("dataform")
    )
    accessor = deployment.one(T.SECRET_IAM, "dataform-git-token-accessor")
    token_creator = deployment.one(T.ACCOUNT_IAM, "dataform-agent-token-creator")
    for grant in (accessor, token_creator):
        assert grant.state["member"] == agent.state["member"]
        assert agent.urn in deployment.get_all_dependencies(grant)
    for repo in deployment.of_type(T.REPOSITORY):
        deps = deployment.get_all_dependencies(repo)
        assert {accessor.urn, token_creator.urn, agent.urn} <= deps
    apis = api_urns(deployment)
    assert {"dataform.googleapis.com", "secretmanager.googleapis.com"} <= set(apis)


def test_operators_impersonate_one_account_which_may_call_the_job_runner(
    dev: Deployment, prod: Deployment
) -> None:
    operator = dev.one(T.ACCOUNT, "sa-operator").state
    grants = [
        g.state
        for g in dev.of_type(T.ACCOUNT_IAM)
        if g.state["member"] == "group:data-eng@acme.com"
    ]
    assert grants == [
        {
            "serviceAccountId": operator["name"],
            "role": "roles/iam.serviceAccountTokenCreator",
            "member": "group:data-eng@acme.com",
        }
    ]
    assert dev.by_state(T.SERVICE_IAM, role="roles/run.invoker", member=operator["member"])
    assert dev.by_state(T.PROJECT_IAM, role="roles/workflows.invoker", member=operator["member"])
    # No operators configured (prod): no operator account.
    assert not [a for a in prod.of_type(T.ACCOUNT) if a.name == "sa-operator"]
