"""What commands share: the spec, the environment and a job-runner client."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from dayflow.cli.output import make_console
from dayflow.errors import UserError
from dayflow.executions import WorkflowsExecutions
from dayflow.runner_client import JobRunnerClient
from dayflow.settings import get_settings
from dayflow.spec import Spec, load_spec

console = make_console()

EnvName = Literal["local", "dev", "prod"]
SpecOption = Annotated[
    Path | None, typer.Option("--spec", help="Spec file (default: $DAYFLOW_SPEC or dayflow.yaml)")
]
EnvOption = Annotated[
    EnvName | None, typer.Option("--env", help="Environment (default: $DAYFLOW_ENV or local)")
]
ImpersonateOption = Annotated[
    str | None,
    typer.Option(
        "--impersonate-service-account",
        help="Call the job-runner as this service account (default: "
        "$DAYFLOW_IMPERSONATE_SERVICE_ACCOUNT, else the environment's impersonate_service_account)",
    ),
]


def get_spec(path: Path | None = None) -> Spec:
    return load_spec(path or get_settings().spec)


def get_env(env: EnvName | None) -> EnvName:
    return env or get_settings().env


def get_job_runner(
    env: EnvName | None = None,
    impersonate_service_account: str | None = None,
    spec_path: Path | None = None,
) -> JobRunnerClient:
    """A client of the environment's job-runner: the local stack's, or $DAYFLOW_JOB_RUNNER_URL.

    In GCP the ID token is minted as the first account named by `--impersonate-service-account`,
    $DAYFLOW_IMPERSONATE_SERVICE_ACCOUNT or the environment's `impersonate_service_account`;
    without one, from a service-account key file or the metadata server.
    """
    settings = get_settings()
    env = get_env(env)
    if settings.job_runner_url:
        if env == "local":
            return JobRunnerClient(settings.job_runner_url)
        account = impersonate_service_account or settings.impersonate_service_account
        if account is None:
            account = _get_spec_account(spec_path, env)
        return JobRunnerClient.for_cloud_run(
            settings.job_runner_url, impersonate_service_account=account
        )
    if env != "local":
        raise UserError(
            f"no job-runner URL for env {env!r} (expected DAYFLOW_JOB_RUNNER_URL, "
            "e.g. the Cloud Run URL from `pulumi stack output job_runner_url`)"
        )
    from dayflow.local.stack import get_stack

    return JobRunnerClient(get_stack(settings.state_dir)["job_runner_url"])


def _get_spec_account(spec_path: Path | None, env: EnvName) -> str | None:
    """The environment's `impersonate_service_account`, if a spec file is there to say it."""
    path = spec_path or get_settings().spec
    if not path.is_file():
        return None
    return get_spec(path).get_environment(env).impersonate_service_account


def get_executions(
    spec: Spec,
    env: EnvName | None = None,
    impersonate_service_account: str | None = None,
) -> WorkflowsExecutions:
    """The Workflows Executions API of the environment: the local engine's, or GCP's.

    In GCP, executions start as the account the job-runner is called as (see `get_job_runner`):
    infra grants the operator account, not each person, the Workflows invoker role.
    """
    settings = get_settings()
    env = get_env(env)
    environment = spec.get_environment(env)
    location = settings.workflows_location or environment.region
    endpoint = settings.workflows_endpoint
    if env == "local" and endpoint is None:
        from dayflow.local.stack import get_stack

        stack = get_stack(settings.state_dir)
        endpoint, location = stack["workflows_grpc"], stack["workflows_location"]
    credentials = None
    account = (
        impersonate_service_account
        or settings.impersonate_service_account
        or environment.impersonate_service_account
    )
    if env != "local" and endpoint is None and account:
        from dayflow.impersonation import get_impersonated_credentials

        credentials = get_impersonated_credentials(account)
    return WorkflowsExecutions(environment.gcp_project, location, endpoint, credentials)
