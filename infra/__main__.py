"""Pulumi entry point: read the stack config once, then compose the components.

Order follows the data: identities first (everything grants to them), then the warehouse, the
job-runner (its URL feeds the schedules and workflows), orchestration, ingestion, transformations.
"""

import sys
from pathlib import Path

# Pulumi runs this folder as a script: make the project root importable so `infra.*` resolves.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import pulumi  # noqa: E402

from dayflow.ingest_config import build_ingest_config, get_ingest_env  # noqa: E402
from dayflow.spec import DataformJob, DbtJob  # noqa: E402
from infra import catalog  # noqa: E402
from infra.components import service_accounts as sa  # noqa: E402
from infra.components.event_ingest import EventIngest, EventIngestArgs  # noqa: E402
from infra.components.job_runner import JobRunnerArgs, JobRunnerService  # noqa: E402
from infra.components.orchestration import (  # noqa: E402
    Orchestration,
    OrchestrationArgs,
    ScheduledPipeline,
    WorkflowSource,
)
from infra.components.transformations import (  # noqa: E402
    DataformRepo,
    Transformations,
    TransformationsArgs,
    TransformIdentity,
)
from infra.components.warehouse import DatasetGrant, Warehouse, WarehouseArgs  # noqa: E402
from infra.config import WORKFLOW_SUFFIX, load_stack_config  # noqa: E402
from infra.service_agents import get_service_agents  # noqa: E402

cfg = load_stack_config()
spec = cfg.spec
workflow_files = {f.name.removesuffix(WORKFLOW_SUFFIX): f for f in cfg.workflow_files}
has_dbt = catalog.has_job_kind(spec, DbtJob)
has_dataform = catalog.has_job_kind(spec, DataformJob)

identities = sa.ServiceAccounts(
    "identities",
    sa.ServiceAccountsArgs(
        cfg.project,
        sa.get_workloads(
            workflow_files, topics=bool(spec.topics), dbt=has_dbt, dataform=has_dataform
        ),
    ),
)
job_runner_sa = identities.get(sa.JOB_RUNNER)
agents = get_service_agents(cfg.project) if spec.topics or has_dataform else None

warehouse = Warehouse(
    "warehouse",
    WarehouseArgs(
        project=cfg.project,
        location=cfg.region,
        dataset_ids={
            d: cfg.get_dataset_id(d) for d in catalog.get_datasets(spec, cfg.transform_datasets)
        },
        tables=catalog.get_owned_tables(spec),
        grants=tuple(
            DatasetGrant(dataset, role, account, identities.get(account).member)
            for workload, roles in catalog.get_dataset_roles(spec, cfg.transform_datasets).items()
            for account in [sa.WORKLOADS[workload]]
            for dataset, role in roles.items()
        ),
        labels=cfg.labels,
        deletion_protection=cfg.deletion_protection,
    ),
)

job_runner = JobRunnerService(
    "job-runner",
    JobRunnerArgs(
        project=cfg.project,
        region=cfg.region,
        image=cfg.image,
        service_account_email=job_runner_sa.email,
        service_account_member=job_runner_sa.member,
        env_vars={
            "JOB_RUNNER_ENV": cfg.environment,
            "JOB_RUNNER_GCP_PROJECT": cfg.project,
            "JOB_RUNNER_REGION": cfg.region,
            "JOB_RUNNER_WORKFLOWS_LOCATION": cfg.region,
            "JOB_RUNNER_BIGQUERY_LOCATION": cfg.region,
            "JOB_RUNNER_SPEC_PATH": cfg.image_spec_path,
            **({"JOB_RUNNER_DBT_SERVICE_ACCOUNT": identities.get(sa.DBT).email} if has_dbt else {}),
            **(
                {"JOB_RUNNER_DATAFORM_SERVICE_ACCOUNT": identities.get(sa.DATAFORM).email}
                if has_dataform
                else {}
            ),
        },
        min_instances=cfg.min_instances,
        max_instances=cfg.max_instances,
        invokers={
            **{
                w: identities.get(w).member
                for w in [sa.SCHEDULER, *map(sa.workflow_workload, workflow_files)]
            },
            **{f"operator-{i}": member for i, member in enumerate(cfg.operators)},
        },
        ingress=(
            "INGRESS_TRAFFIC_ALL"
            if cfg.job_runner_ingress == "all"
            else "INGRESS_TRAFFIC_INTERNAL_ONLY"
        ),
        labels=cfg.labels,
        deletion_protection=cfg.deletion_protection,
    ),
)

orchestration = Orchestration(
    "orchestration",
    OrchestrationArgs(
        project=cfg.project,
        region=cfg.region,
        job_runner_uri=job_runner.uri,
        job_runner_member=job_runner_sa.member,
        workflows=tuple(
            WorkflowSource(
                name=stem,
                path=path,
                workload=sa.workflow_workload(stem),
                service_account_id=identities.get(sa.workflow_workload(stem)).id,
                service_account_member=identities.get(sa.workflow_workload(stem)).member,
            )
            for stem, path in workflow_files.items()
        ),
        pipelines=tuple(
            ScheduledPipeline(name, p.schedule, p.timezone) for name, p in spec.pipelines.items()
        ),
        scheduler_service_account_email=identities.get(sa.SCHEDULER).email,
        schedule_paused=cfg.schedule_paused,
        labels=cfg.labels,
        deletion_protection=cfg.deletion_protection,
        operators=cfg.operators,
    ),
)

if spec.topics and agents is not None:
    invoker = identities.get(sa.INGEST_INVOKER)
    build = identities.get(sa.INGEST_BUILD)
    ingest = EventIngest(
        "event-ingest",
        EventIngestArgs(
            project=cfg.project,
            region=cfg.region,
            topics=tuple(spec.topics),
            source_dir=cfg.ingest_function_dir,
            ingest_config=build_ingest_config(spec, cfg.environment),
            env_vars=get_ingest_env(spec, cfg.environment),
            function_service_account_email=identities.get(sa.INGEST).email,
            invoker_service_account_id=invoker.id,
            invoker_service_account_email=invoker.email,
            invoker_member=invoker.member,
            build_service_account_id=build.id,
            build_member=build.member,
            pubsub_agent_member=agents.pubsub_member,
            delivery=cfg.ingest_delivery,
            max_instances=cfg.ingest_max_instances,
            labels=cfg.labels,
            deletion_protection=cfg.deletion_protection,
        ),
    )
    pulumi.export("topics", ingest.topic_names)
    pulumi.export("ingest_function_urls", ingest.function_urls)


def _transform_identity(workload: str) -> TransformIdentity:
    account = identities.get(workload)
    return TransformIdentity(account.id, account.email, account.member)


if has_dbt or has_dataform:
    transformations = Transformations(
        "transformations",
        TransformationsArgs(
            project=cfg.project,
            region=cfg.region,
            job_runner_member=job_runner_sa.member,
            dbt=_transform_identity(sa.DBT) if has_dbt else None,
            dataform=_transform_identity(sa.DATAFORM) if has_dataform else None,
            repositories=tuple(
                DataformRepo(
                    r.repository, r.git_commitish, cfg.dataform_git_remotes.get(r.repository)
                )
                for r in catalog.get_managed_dataform(spec)
            ),
            dataform_agent_member=agents.dataform_member if agents else None,
            git_token=cfg.dataform_git_token,
            labels=cfg.labels,
            deletion_protection=cfg.deletion_protection,
        ),
    )
    pulumi.export("dataform_repositories", transformations.repository_names)

pulumi.export("environment", cfg.environment)
pulumi.export("job_runner_uri", job_runner.uri)
pulumi.export("dataset_ids", warehouse.dataset_ids)
pulumi.export("workflows", orchestration.workflow_names)
pulumi.export("schedules", orchestration.schedule_names)
pulumi.export("service_accounts", identities.emails)
