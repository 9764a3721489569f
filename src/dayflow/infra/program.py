"""The Pulumi program of a dayflow project: read the stack config once, then compose the components.

A project's `infra/__main__.py` calls `run(project_dir)` (what `dayflow init` scaffolds); the
project directory holds `Pulumi.yaml` and the spec that `specPath` names.

Order follows the data: the project's APIs and service agents first (each component depends on
the APIs it uses), identities (everything grants to them), the warehouse, the job-runner (its URL
feeds the schedules and workflows), orchestration, ingestion, transformations, operators.
"""

import json
from pathlib import Path

import pulumi

from dayflow.infra import catalog
from dayflow.infra.components import project_apis as api
from dayflow.infra.components import service_accounts as sa
from dayflow.infra.components.alerts import Alerts, AlertsArgs, PipelineAlerts
from dayflow.infra.components.called_services import (
    CalledService,
    CalledServices,
    CalledServicesArgs,
)
from dayflow.infra.components.cloud_run_jobs import (
    CloudRunJobs,
    CloudRunJobsArgs,
    get_cloud_run_jobs,
)
from dayflow.infra.components.consumed_tables import (
    ConsumedTable,
    ConsumedTables,
    ConsumedTablesArgs,
    TableReader,
)
from dayflow.infra.components.event_ingest import EventIngest, EventIngestArgs
from dayflow.infra.components.job_runner import JobRunnerArgs, JobRunnerService
from dayflow.infra.components.operators import Operators, OperatorsArgs
from dayflow.infra.components.orchestration import (
    Orchestration,
    OrchestrationArgs,
    ScheduledPipeline,
    WorkflowSource,
)
from dayflow.infra.components.transformations import (
    DataformRepo,
    Transformations,
    TransformationsArgs,
    TransformIdentity,
)
from dayflow.infra.components.warehouse import DatasetGrant, Warehouse, WarehouseArgs
from dayflow.infra.config import load_stack_config
from dayflow.infra.naming import get_service_name
from dayflow.ingest_config import build_ingest_config, get_ingest_env
from dayflow.package_files import WORKFLOW_SUFFIX
from dayflow.spec import DataformJob, DbtJob
from dayflow.spec_services import get_http_services, get_service_writes
from dayflow.tables import DEAD_LETTER


def run(project_dir: Path) -> None:
    """Declare every resource of the stack for the project in `project_dir`."""
    cfg = load_stack_config(root=project_dir)
    spec = cfg.spec
    workflow_files = {f.name.removesuffix(WORKFLOW_SUFFIX): f for f in cfg.workflow_files}
    has_dbt = catalog.has_job_kind(spec, DbtJob)
    has_dataform = catalog.has_job_kind(spec, DataformJob)
    has_topics = bool(spec.topics)
    managed_dataform = catalog.get_managed_dataform(spec)
    called_services = get_http_services(spec)
    # The account each called service runs as, when the spec names it (spec_services.Service).
    service_members = {
        key: f"serviceAccount:{s.service_account}@{cfg.project}.iam.gserviceaccount.com"
        for key, s in called_services.items()
        if s.service_account
    }
    cloud_run_jobs = get_cloud_run_jobs(spec, cfg.environment, cfg.image)

    # The APIs each component calls (to create its resources) or its workload calls (at run time).
    COMPONENT_APIS: dict[str, tuple[str, ...]] = {
        "identities": (api.IAM,),
        # Lineage: BigQuery reports every job's lineage to Dataplex once the API is on.
        "warehouse": (api.BIGQUERY, api.DATA_LINEAGE),
        "job-runner": (
            api.RUN,
            api.RESOURCE_MANAGER,
            api.BIGQUERY,
            api.WORKFLOW_EXECUTIONS,
            api.IAM_CREDENTIALS,
            api.LOGGING,
            *((api.DATAFORM,) if has_dataform else ()),
        ),
        "orchestration": (
            api.WORKFLOWS,
            api.WORKFLOW_EXECUTIONS,
            api.SCHEDULER,
            api.RESOURCE_MANAGER,
            api.LOGGING,
        ),
    }
    if has_topics:
        COMPONENT_APIS["event-ingest"] = (
            api.PUBSUB,
            api.CLOUD_FUNCTIONS,
            api.CLOUD_BUILD,
            api.ARTIFACT_REGISTRY,
            api.RUN,
            api.STORAGE,
            api.IAM,
            api.RESOURCE_MANAGER,
            api.LOGGING,
            api.BIGQUERY,
            *((api.EVENTARC,) if cfg.ingest_delivery == "eventarc" else ()),
        )
    if has_dbt or has_dataform:
        COMPONENT_APIS["transformations"] = (
            api.IAM,
            api.RESOURCE_MANAGER,
            api.BIGQUERY,
            *((api.DATAFORM, api.SECRET_MANAGER) if has_dataform else ()),
        )
    if cloud_run_jobs:
        COMPONENT_APIS["cloud-run-jobs"] = (api.IAM, api.RUN, api.RESOURCE_MANAGER, api.BIGQUERY)
    if cfg.operators:
        COMPONENT_APIS["operators"] = (api.IAM,)
    COMPONENT_APIS["alerts"] = (
        api.MONITORING,
        api.LOGGING,
        api.SCHEDULER,
        api.RESOURCE_MANAGER,
        *((api.PUBSUB,) if any(c.kind == "pubsub" for c in cfg.notification_channels) else ()),
    )
    if called_services:
        # Cloud Run (the services and their invoker grants), Resource Manager (Job User).
        COMPONENT_APIS["called-services"] = (api.RUN, api.RESOURCE_MANAGER)

    apis = api.ProjectApis(
        "apis",
        api.ProjectApisArgs(
            project=cfg.project,
            apis=tuple(dict.fromkeys(a for apis_ in COMPONENT_APIS.values() for a in apis_)),
            agents=(
                *((api.PUBSUB,) if has_topics else ()),
                *((api.DATAFORM,) if managed_dataform else ()),
            ),
        ),
    )

    def needs(component: str) -> pulumi.ResourceOptions:
        """A component's options: it (and each of its children) waits for the APIs it needs."""
        return pulumi.ResourceOptions(depends_on=apis.get(COMPONENT_APIS[component]))

    identities = sa.ServiceAccounts(
        "identities",
        sa.ServiceAccountsArgs(
            cfg.project,
            sa.get_workloads(
                topics=has_topics, dbt=has_dbt, dataform=has_dataform, operators=bool(cfg.operators)
            ),
        ),
        opts=needs("identities"),
    )
    job_runner_sa = identities.get(sa.JOB_RUNNER)
    workflows_sa = identities.get(sa.WORKFLOWS)
    operator_sa = identities.get(sa.OPERATOR) if cfg.operators else None

    warehouse = Warehouse(
        "warehouse",
        WarehouseArgs(
            project=cfg.project,
            location=cfg.region,
            dataset_ids={d: cfg.get_dataset_id(d) for d in catalog.get_datasets(spec)},
            tables=catalog.get_owned_tables(spec),
            grants=(
                *(
                    DatasetGrant(dataset, role, account, identities.get(account).member)
                    for workload, roles in catalog.get_dataset_roles(spec).items()
                    for account in [sa.WORKLOADS[workload]]
                    for dataset, role in roles.items()
                ),
                *(
                    DatasetGrant(dataset, role, "team", f"group:{spec.team_group}")
                    for dataset, role in catalog.get_team_grants(spec).items()
                ),
                *(
                    DatasetGrant(dataset, catalog.DATA_EDITOR, f"svc-{key}", member)
                    for key, member in service_members.items()
                    for dataset in get_service_writes(spec)[key]
                ),
            ),
            source_grants=tuple(
                DatasetGrant(source, catalog.DATA_VIEWER, account, identities.get(account).member)
                for workload, sources in catalog.get_source_datasets(spec).items()
                for account in [sa.WORKLOADS[workload]]
                for source in sources
            ),
            labels=cfg.labels,
            deletion_protection=cfg.deletion_protection,
        ),
        opts=needs("warehouse"),
    )

    if spec.consumes:
        ConsumedTables(
            "consumed-tables",
            ConsumedTablesArgs(
                tables=tuple(
                    ConsumedTable(key, *ref)
                    for key, ref in catalog.get_consumed_tables(spec, cfg.environment).items()
                ),
                readers=tuple(
                    TableReader(account, identities.get(account).member, tables)
                    for workload, tables in catalog.get_consumed_reads(spec).items()
                    for account in [sa.WORKLOADS[workload]]
                ),
            ),
            opts=needs("warehouse"),
        )

    # Callers the job-runner accepts besides the scheduler and Workflows
    # (JOB_RUNNER_OPERATOR_MEMBERS): each operator, and the operator account they impersonate.
    operator_members: pulumi.Output[str] = pulumi.Output.from_input(
        operator_sa.member if operator_sa is not None else ""
    ).apply(lambda m: json.dumps([*cfg.operators, *([m] if m else [])]))

    # The services http jobs call: their URLs for the job-runner, and its invoker grant on each.
    service_urls: pulumi.Output[str] | None = None
    if called_services:
        service_urls = CalledServices(
            "called-services",
            CalledServicesArgs(
                project=cfg.project,
                region=cfg.region,
                services=tuple(
                    CalledService(key, service.get_cloud_run_name(key), service_members.get(key))
                    for key, service in called_services.items()
                ),
                job_runner_member=job_runner_sa.member,
            ),
            opts=needs("called-services"),
        ).urls_json

    job_runner = JobRunnerService(
        "job-runner",
        JobRunnerArgs(
            project=cfg.project,
            region=cfg.region,
            image=cfg.image,
            service_account_email=job_runner_sa.email,
            service_account_member=job_runner_sa.member,
            # Fields of job_runner.core.config.JobRunnerSettings
            # (tests/infra/test_settings_contract.py).
            env_vars={
                "JOB_RUNNER_ENV": cfg.environment,
                "JOB_RUNNER_GCP_PROJECT": cfg.project,
                "JOB_RUNNER_WORKFLOWS_LOCATION": cfg.region,
                "JOB_RUNNER_BIGQUERY_LOCATION": cfg.region,
                "JOB_RUNNER_SPEC_PATH": cfg.image_spec_path,
                "JOB_RUNNER_CHECK_CALLERS": "true",
                "JOB_RUNNER_SCHEDULER_SERVICE_ACCOUNT": identities.get(sa.SCHEDULER).email,
                "JOB_RUNNER_WORKFLOWS_SERVICE_ACCOUNT": workflows_sa.email,
                "JOB_RUNNER_OPERATOR_MEMBERS": operator_members,
                "JOB_RUNNER_MAX_CONCURRENT_RUNS": str(cfg.job_runner_concurrency),
                **(
                    {"JOB_RUNNER_DBT_SERVICE_ACCOUNT": identities.get(sa.DBT).email}
                    if has_dbt
                    else {}
                ),
                **(
                    {"JOB_RUNNER_DATAFORM_SERVICE_ACCOUNT": identities.get(sa.DATAFORM).email}
                    if has_dataform
                    else {}
                ),
                **({"JOB_RUNNER_SERVICE_URLS": service_urls} if service_urls is not None else {}),
            },
            min_instances=cfg.min_instances,
            max_instances=cfg.max_instances,
            max_concurrent_requests=cfg.job_runner_concurrency,
            # Callers that act only in GCP, so no local call records their use (justified in
            # tests/iam/known_gaps.py): Cloud Scheduler's triggers; the operator account that
            # the CLI impersonates; operators themselves with their own ID token (`gcloud auth
            # print-identity-token`,
            # https://cloud.google.com/run/docs/authenticating/developers).
            invokers={
                sa.SCHEDULER: identities.get(sa.SCHEDULER).member,
                sa.WORKFLOWS: workflows_sa.member,
                **({sa.OPERATOR: operator_sa.member} if operator_sa is not None else {}),
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
        opts=needs("job-runner"),
    )

    if cloud_run_jobs:
        crj = CloudRunJobs(
            "cloud-run-jobs",
            CloudRunJobsArgs(
                project=cfg.project,
                region=cfg.region,
                jobs=cloud_run_jobs,
                dataset_ids=warehouse.dataset_ids,
                job_runner_member=job_runner_sa.member,
                labels=cfg.labels,
                deletion_protection=cfg.deletion_protection,
            ),
            opts=needs("cloud-run-jobs"),
        )
        pulumi.export("cloud_run_jobs", crj.job_names)

    orchestration = Orchestration(
        "orchestration",
        OrchestrationArgs(
            project=cfg.project,
            region=cfg.region,
            scheduler_region=cfg.scheduler_region,
            job_runner_uri=job_runner.uri,
            job_runner_member=job_runner_sa.member,
            workflows=tuple(
                WorkflowSource(name=stem, path=path) for stem, path in workflow_files.items()
            ),
            workflows_service_account_id=workflows_sa.id,
            workflows_service_account_member=workflows_sa.member,
            pipelines=tuple(
                ScheduledPipeline(name, p.schedule, p.timezone)
                for name, p in spec.pipelines.items()
            ),
            scheduler_service_account_email=identities.get(sa.SCHEDULER).email,
            schedule_paused=cfg.schedule_paused,
            labels=cfg.labels,
            deletion_protection=cfg.deletion_protection,
            operators=(
                *cfg.operators,
                *((operator_sa.member,) if operator_sa is not None else ()),
            ),
            scheduler_invoker_grant=job_runner.invoker_grants[sa.SCHEDULER],
            workflows_invoker_grant=job_runner.invoker_grants[sa.WORKFLOWS],
        ),
        opts=needs("orchestration"),
    )

    if has_topics:
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
                pubsub_agent_member=apis.get_agent(api.PUBSUB).member,
                delivery=cfg.ingest_delivery,
                max_instances=cfg.ingest_max_instances,
                labels=cfg.labels,
                deletion_protection=cfg.deletion_protection,
            ),
            opts=needs("event-ingest"),
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
                    for r in managed_dataform
                ),
                dataform_agent_member=(
                    apis.get_agent(api.DATAFORM).member if managed_dataform else None
                ),
                git_token=cfg.dataform_git_token,
                labels=cfg.labels,
                deletion_protection=cfg.deletion_protection,
            ),
            opts=needs("transformations"),
        )
        pulumi.export("dataform_repositories", transformations.repository_names)

    if operator_sa is not None:
        Operators(
            "operators",
            OperatorsArgs(service_account_id=operator_sa.id, operators=cfg.operators),
            opts=needs("operators"),
        )
        pulumi.export("operator_service_account", operator_sa.email)

    alerts = Alerts(
        "alerts",
        AlertsArgs(
            project=cfg.project,
            environment=cfg.environment,
            scheduler_region=cfg.scheduler_region,
            job_runner_uri=job_runner.uri,
            job_runner_service=job_runner.service_name,
            workflow_names=orchestration.workflow_names,
            ingest_services=tuple(get_service_name("ingest", t) for t in spec.topics),
            dead_letter_table=(
                f"{cfg.project}.{cfg.get_dataset_id(DEAD_LETTER.dataset)}.{DEAD_LETTER.table}"
            ),
            pipelines=tuple(
                PipelineAlerts(
                    name,
                    p.alerts.freshness if p.alerts else None,
                    tuple(p.alerts.notify) if p.alerts else (),
                )
                for name, p in spec.pipelines.items()
            ),
            channels=cfg.notification_channels,
            scheduler_service_account_email=identities.get(sa.SCHEDULER).email,
            schedule_paused=cfg.schedule_paused,
            scheduler_invoker_grant=job_runner.invoker_grants[sa.SCHEDULER],
            labels=cfg.labels,
        ),
        opts=needs("alerts"),
    )
    pulumi.export("alert_policies", alerts.policy_names)
    pulumi.export("environment", cfg.environment)
    pulumi.export("job_runner_uri", job_runner.uri)
    pulumi.export("dataset_ids", warehouse.dataset_ids)
    pulumi.export("workflows", orchestration.workflow_names)
    pulumi.export("schedules", orchestration.schedule_names)
    pulumi.export("service_accounts", identities.emails)
