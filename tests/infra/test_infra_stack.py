"""The whole program on the tests project's spec: structure, wiring and the dev/prod differences.

Assertions are on resolved inputs, as the GCP provider would receive them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_harness import COMPONENT_PREFIX, STACK_TYPE, Deploy, Deployment, Registered, T

from dayflow.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "project"
SPEC = load_spec(PROJECT / "dayflow.yaml")
RUN_URI = "https://dayflow-job-runner-x7q2m3-lz.a.run.app"


def email(deployment: Deployment, workload: str) -> str:
    return str(deployment.one(T.ACCOUNT, f"sa-{workload}").state["email"])


def member(deployment: Deployment, workload: str) -> str:
    return f"serviceAccount:{email(deployment, workload)}"


def envs(service: Registered) -> dict[str, str]:
    return {e["name"]: e["value"] for e in service.state["template"]["containers"][0]["envs"]}


def workflow_names(deployment: Deployment) -> list[str]:
    return sorted(str(w.state["name"]) for w in deployment.of_type(T.WORKFLOW))


# --- structure ---------------------------------------------------------------------------------


def test_every_resource_is_a_child_of_a_component(dev: Deployment) -> None:
    components = {r.type for r in dev if r.is_component}
    assert components == {
        f"{COMPONENT_PREFIX}{c}"
        for c in (
            "ServiceAccounts",
            "Warehouse",
            "JobRunnerService",
            "Orchestration",
            "EventIngest",
            "Transformations",
            "ProjectApis",
            "Operators",
            "Alerts",
        )
    }
    orphans = [r.urn for r in dev if not r.is_component and r.parent_type not in components]
    assert orphans == []
    assert {r.parent_type for r in dev if r.is_component} == {STACK_TYPE}


def test_a_second_run_registers_the_same_resources_with_the_same_inputs(
    deploy: Deploy, dev: Deployment
) -> None:
    def snapshot(deployment: Deployment) -> list[tuple[str, str]]:
        # `source` holds the archive object (compared through its hash-derived name).
        return sorted(
            (r.urn, repr({k: v for k, v in r.state.items() if k != "source"})) for r in deployment
        )

    assert snapshot(deploy("dev")) == snapshot(dev)


# --- environments ------------------------------------------------------------------------------


def test_dev_and_prod_deploy_their_own_project_and_dataset_prefix(
    dev: Deployment, prod: Deployment
) -> None:
    assert {d.state["project"] for d in dev.of_type(T.DATASET)} == {"acme-shop-dev"}
    assert {d.state["project"] for d in prod.of_type(T.DATASET)} == {"acme-shop-prod"}
    assert {d.state["datasetId"] for d in dev.of_type(T.DATASET)} == {
        "dev_dayflow",
        "dev_staging",
        "dev_mart",
        "dev_ingest",
        "dev_semantic",
    }
    assert {d.state["datasetId"] for d in prod.of_type(T.DATASET)} == {
        "dayflow",
        "staging",
        "mart",
        "ingest",
        "semantic",
    }


def test_prod_protects_data_and_services_and_dev_does_not(
    dev: Deployment, prod: Deployment
) -> None:
    for deployment, protected in ((dev, False), (prod, True)):
        policy = "PREVENT" if protected else "DELETE"
        for table in deployment.of_type(T.TABLE):
            assert table.state["deletionProtection"] is protected
            assert table.state["deletionPolicy"] == policy
        for dataset in deployment.of_type(T.DATASET):
            assert dataset.state["deletionPolicy"] == policy
            assert dataset.state["deleteContentsOnDestroy"] is not protected
        assert deployment.one(T.SERVICE, "service").state["deletionProtection"] is protected
        for workflow in deployment.of_type(T.WORKFLOW):
            assert workflow.state["deletionProtection"] is protected


def test_scaling_and_schedules_differ_per_stack(dev: Deployment, prod: Deployment) -> None:
    assert dev.one(T.SERVICE, "service").state["template"]["scaling"] == {
        "minInstanceCount": 0,
        "maxInstanceCount": 2,
    }
    assert prod.one(T.SERVICE, "service").state["template"]["scaling"] == {
        "minInstanceCount": 1,
        "maxInstanceCount": 10,
    }
    assert {j.state["paused"] for j in dev.of_type(T.SCHEDULE)} == {True}
    assert {j.state["paused"] for j in prod.of_type(T.SCHEDULE)} == {False}


def test_stack_config_overrides_the_defaults(deploy: Deploy) -> None:
    deployment = deploy("dev", schedulePaused=False, deletionProtection=True, maxInstances=5)
    assert {j.state["paused"] for j in deployment.of_type(T.SCHEDULE)} == {False}
    assert deployment.one(T.SERVICE, "service").state["deletionProtection"] is True
    scaling = deployment.one(T.SERVICE, "service").state["template"]["scaling"]
    assert scaling["maxInstanceCount"] == 5


# --- wiring ------------------------------------------------------------------------------------


def test_each_pipeline_is_scheduled_through_the_job_runner_trigger(dev: Deployment) -> None:
    jobs = {j.state["name"]: j.state for j in dev.of_type(T.SCHEDULE)}
    assert set(jobs) == {f"dayflow-{p.replace('_', '-')}" for p in SPEC.pipelines}
    for name, pipeline in SPEC.pipelines.items():
        job = jobs[f"dayflow-{name.replace('_', '-')}"]
        assert job["schedule"] == pipeline.schedule
        assert job["timeZone"] == pipeline.timezone
        assert job["httpTarget"]["uri"] == f"{RUN_URI}/triggers/{name}"
        assert job["httpTarget"]["httpMethod"] == "POST"
        assert job["httpTarget"]["oidcToken"] == {
            "serviceAccountEmail": email(dev, "scheduler"),
            "audience": RUN_URI,
        }


def test_each_workflow_file_is_deployed_verbatim_with_the_job_runner_url(
    dev: Deployment, source_dirs: dict[str, str]
) -> None:
    files = sorted(Path(source_dirs["workflowsDir"]).glob("*.workflows.yaml"))
    assert workflow_names(dev) == sorted(f.name.removesuffix(".workflows.yaml") for f in files)
    for path in files:
        stem = path.name.removesuffix(".workflows.yaml")
        workflow = dev.one(T.WORKFLOW, f"workflow-{stem}").state
        assert workflow["sourceContents"] == path.read_text()
        assert workflow["userEnvVars"] == {"JOB_RUNNER_URL": RUN_URI}
        account = dev.one(T.ACCOUNT, "sa-workflows").state
        assert workflow["serviceAccount"] == account["name"]


def test_job_runner_runs_as_its_own_account_with_its_settings(dev: Deployment) -> None:
    service = dev.one(T.SERVICE, "service")
    assert service.state["template"]["serviceAccount"] == email(dev, "job-runner")
    assert service.state["template"]["containers"][0]["image"] == (
        "europe-north1-docker.pkg.dev/acme-shared/dayflow/job-runner@sha256:"
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
    )
    assert envs(service) == {
        "JOB_RUNNER_ENV": "dev",
        "JOB_RUNNER_GCP_PROJECT": "acme-shop-dev",
        "JOB_RUNNER_WORKFLOWS_LOCATION": "europe-north1",
        "JOB_RUNNER_BIGQUERY_LOCATION": "europe-north1",
        "JOB_RUNNER_SPEC_PATH": "/app/dayflow.yaml",
        "JOB_RUNNER_DBT_SERVICE_ACCOUNT": email(dev, "dbt"),
        "JOB_RUNNER_CHECK_CALLERS": "true",
        "JOB_RUNNER_SCHEDULER_SERVICE_ACCOUNT": email(dev, "scheduler"),
        "JOB_RUNNER_WORKFLOWS_SERVICE_ACCOUNT": email(dev, "workflows"),
        "JOB_RUNNER_OPERATOR_MEMBERS": json.dumps(
            ["group:data-eng@acme.com", member(dev, "operator")]
        ),
        "JOB_RUNNER_MAX_CONCURRENT_RUNS": "20",
    }
    # The runs one instance executes at once equal the requests Cloud Run sends it at once.
    assert service.state["template"]["maxInstanceRequestConcurrency"] == 20
    # Runs go on after POST /runs answers 202: the CPU must stay allocated outside requests
    # (https://cloud.google.com/run/docs/configuring/billing-settings). Requests are short.
    assert service.state["template"]["containers"][0]["resources"]["cpuIdle"] is False
    assert service.state["template"]["timeout"] == "300s"
    # Pulumi.dev.yaml opens ingress to the configured operators (still IAM and OIDC checked).
    assert service.state["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert service.state["invokerIamDisabled"] is False


def test_only_the_scheduler_workflow_accounts_and_operators_may_invoke_the_job_runner(
    dev: Deployment,
) -> None:
    grants = [
        g.state for g in dev.of_type(T.SERVICE_IAM) if g.state["name"] == "dayflow-job-runner"
    ]
    assert {g["role"] for g in grants} == {"roles/run.invoker"}
    expected = {
        member(dev, "scheduler"),
        member(dev, "workflows"),
        member(dev, "operator"),
        "group:data-eng@acme.com",
    }
    assert {g["member"] for g in grants} == expected


def test_prod_job_runner_is_internal_only_with_no_operators(prod: Deployment) -> None:
    service = prod.one(T.SERVICE, "service")
    assert not [g for g in prod.of_type(T.SERVICE_IAM) if g.state["member"].startswith("group:")]
    assert service.state["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"


def test_job_runner_may_start_workflow_executions(dev: Deployment) -> None:
    roles = {
        (g.state["role"], g.state["member"])
        for g in dev.of_type(T.PROJECT_IAM)
        if g.state["member"] == member(dev, "job-runner")
    }
    assert roles == {
        ("roles/workflows.invoker", member(dev, "job-runner")),
        ("roles/bigquery.jobUser", member(dev, "job-runner")),
    }


def test_only_workflows_calling_the_executions_api_may_start_executions(
    dev: Deployment, source_dirs: dict[str, str]
) -> None:
    invokers = {
        g.state["member"]
        for g in dev.of_type(T.PROJECT_IAM)
        if g.state["role"] == "roles/workflows.invoker"
    }
    sources = Path(source_dirs["workflowsDir"]).glob("*.workflows.yaml")
    calls_api = any("googleapis.workflowexecutions." in p.read_text() for p in sources)
    assert (member(dev, "workflows") in invokers) is calls_api


def test_each_topic_gets_a_function_wired_to_its_topic_and_tables(dev: Deployment) -> None:
    archive = dev.one(T.BUCKET_OBJECT, "source-archive").state
    for topic in SPEC.topics:
        function = dev.one(T.FUNCTION, f"function-{topic}").state
        assert function["serviceConfig"]["environmentVariables"] == {
            "INGEST_PROJECT": "acme-shop-dev",
            "INGEST_DEAD_LETTER_TABLE": "dev_ingest.dead_letter",
        }
        assert function["serviceConfig"]["serviceAccountEmail"] == email(dev, "ingest")
        assert function["serviceConfig"]["ingressSettings"] == "ALLOW_INTERNAL_ONLY"
        assert function["buildConfig"]["entryPoint"] == "ingest_event"
        assert function["buildConfig"]["source"]["storageSource"] == {
            "bucket": "acme-shop-dev-dayflow-sources",
            "object": archive["name"],
        }
        assert "eventTrigger" not in function  # push delivery: infra owns the subscription

        push = dev.one(T.SUBSCRIPTION, f"push-{topic}").state
        assert push["topic"] == f"projects/acme-shop-dev/topics/{topic}"
        # functions-framework reads the topic of a push envelope from the request path.
        service_uri = function["serviceConfig"]["uri"]
        assert push["pushConfig"] == {
            "pushEndpoint": f"{service_uri}/projects/acme-shop-dev/topics/{topic}",
            "oidcToken": {
                "serviceAccountEmail": email(dev, "ingest-invoker"),
                "audience": service_uri,
            },
        }
        assert push["deadLetterPolicy"] == {
            "deadLetterTopic": f"projects/acme-shop-dev/topics/{topic}-dead-letter",
            "maxDeliveryAttempts": 10,
        }
        invoker = dev.one(T.SERVICE_IAM, f"invoker-{topic}").state
        assert (invoker["name"], invoker["role"], invoker["member"]) == (
            f"ingest-{topic}",
            "roles/run.invoker",
            member(dev, "ingest-invoker"),
        )


def test_pubsub_agent_may_dead_letter_each_topic(dev: Deployment) -> None:
    agent = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    for topic in SPEC.topics:
        publisher = dev.one(T.TOPIC_IAM, f"dead-letter-publisher-{topic}").state
        assert (publisher["topic"], publisher["role"], publisher["member"]) == (
            f"{topic}-dead-letter",
            "roles/pubsub.publisher",
            agent,
        )
        subscriber = dev.one(T.SUBSCRIPTION_IAM, f"dead-letter-subscriber-{topic}").state
        assert (subscriber["subscription"], subscriber["role"], subscriber["member"]) == (
            f"{topic}-ingest",
            "roles/pubsub.subscriber",
            agent,
        )
        hold = dev.one(T.SUBSCRIPTION, f"dead-letter-hold-{topic}").state
        assert hold["topic"] == f"projects/acme-shop-dev/topics/{topic}-dead-letter"


def test_eventarc_delivery_uses_the_function_trigger_with_retry(deploy: Deploy) -> None:
    deployment = deploy("dev", ingestDelivery="eventarc")
    for topic in SPEC.topics:
        trigger = deployment.one(T.FUNCTION, f"function-{topic}").state["eventTrigger"]
        assert trigger == {
            "triggerRegion": "europe-north1",
            "eventType": "google.cloud.pubsub.topic.v1.messagePublished",
            "pubsubTopic": f"projects/acme-shop-dev/topics/{topic}",
            "retryPolicy": "RETRY_POLICY_RETRY",
            "serviceAccountEmail": email(deployment, "ingest-invoker"),
        }
    assert not [s for s in deployment.of_type(T.SUBSCRIPTION) if s.name.startswith("push-")]
    assert deployment.by_state(
        T.PROJECT_IAM,
        role="roles/eventarc.eventReceiver",
        member=member(deployment, "ingest-invoker"),
    )


# --- warehouse ---------------------------------------------------------------------------------


def test_tables_are_partitioned_with_their_partition_filter_rule(dev: Deployment) -> None:
    tables = {t.state["tableId"]: t.state for t in dev.of_type(T.TABLE)}
    assert set(tables) == {
        "dayflow_runs",
        "events_orders",
        "events_customers",
        "dead_letter",
        "orders",  # semantic tables of the dedup jobs
        "customers",
    }
    assert tables["dayflow_runs"]["timePartitioning"] == {"type": "DAY", "field": "partition_date"}
    assert tables["dayflow_runs"]["requirePartitionFilter"] is False
    assert tables["events_orders"]["timePartitioning"] == {"type": "DAY", "field": "ingested_at"}
    assert tables["events_orders"]["requirePartitionFilter"] is True
    assert tables["dead_letter"]["requirePartitionFilter"] is True
    assert tables["events_orders"]["datasetId"] == "dev_ingest"


def test_everything_labelled_carries_the_spec_labels(dev: Deployment) -> None:
    labelled = [r for r in dev if "labels" in r.state]
    assert len(labelled) >= len(dev.of_type(T.DATASET)) + len(dev.of_type(T.TABLE))
    for resource in labelled:
        assert resource.state["labels"] == {
            "team": "data",
            "env": "dev",
            "managed-by": "pulumi",
            "dayflow-spec": "shop",
            "dayflow-env": "dev",
        }, resource.urn


def test_dataset_roles_follow_what_each_workload_writes_and_reads(dev: Deployment) -> None:
    grants = {
        (g.state["datasetId"], g.state["member"]): g.state["role"]
        for g in dev.of_type(T.DATASET_IAM)
    }
    runner, ingest, dbt = member(dev, "job-runner"), member(dev, "ingest"), member(dev, "dbt")
    assert grants == {
        ("dev_dayflow", runner): "roles/bigquery.dataEditor",
        ("dev_staging", runner): "roles/bigquery.dataEditor",
        ("dev_mart", runner): "roles/bigquery.dataEditor",
        ("dev_semantic", runner): "roles/bigquery.dataEditor",
        ("dev_ingest", runner): "roles/bigquery.dataViewer",
        ("dev_ingest", ingest): "roles/bigquery.dataEditor",
        # The tests project's dbt job declares `writes: [mart]` and `reads: [semantic]`: exactly that.
        ("dev_mart", dbt): "roles/bigquery.dataEditor",
        ("dev_semantic", dbt): "roles/bigquery.dataViewer",
        # The declared source `raw`, read by the SQL jobs: its own name, in the stack's project.
        ("raw", runner): "roles/bigquery.dataViewer",
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_source_dataset_is_granted_to_its_readers_but_never_created(
    deploy: Deploy, stack: str
) -> None:
    deployment = deploy(stack)
    project = SPEC.get_environment(stack).gcp_project
    created = {d.state["datasetId"] for d in deployment.of_type(T.DATASET)}
    assert not {d for d in created if d.endswith("raw")}
    grant = deployment.one(T.DATASET_IAM, "iam-source-raw-job-runner-dataViewer")
    assert grant.state["datasetId"] == "raw"  # no dataset prefix: the source's own name
    assert grant.state["project"] == project
    assert grant.state["role"] == "roles/bigquery.dataViewer"
    assert grant.state["member"] == member(deployment, "job-runner")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_bigquery_role_is_granted_at_project_level_but_job_user(
    deploy: Deploy, stack: str
) -> None:
    roles = {g.state["role"] for g in deploy(stack).of_type(T.PROJECT_IAM)}
    assert {r for r in roles if "bigquery" in r} == {"roles/bigquery.jobUser"}


def test_function_archive_bundles_the_environments_topic_config(
    dev: Deployment, prod: Deployment, source_dirs: dict[str, str]
) -> None:
    archives = {}
    for deployment in (dev, prod):
        obj = deployment.one(T.BUCKET_OBJECT, "source-archive").state
        assets = obj["source"].assets
        assert "main.py" in assets
        assert not [name for name in assets if "__pycache__" in name or "cache" in name]
        config = json.loads(assets["ingest_config.json"].text)
        archives[obj["name"]] = config
    (dev_name, dev_config), (prod_name, prod_config) = archives.items()
    assert dev_config["topics"]["orders"]["dataset"] == "dev_ingest"
    assert prod_config["topics"]["orders"]["dataset"] == "ingest"
    # The name is the content hash: different configs, different objects.
    assert dev_name != prod_name
    assert dev_name.startswith(f"{Path(source_dirs['ingestFunctionDir']).name}/")
