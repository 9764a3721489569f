"""What commands share: the spec, the environment and a job-runner client."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from dayflow.errors import UserError
from dayflow.executions import WorkflowsExecutions
from dayflow.runner_client import JobRunnerClient
from dayflow.settings import get_settings
from dayflow.spec import Spec, load_spec

console = Console()

EnvName = Literal["local", "dev", "prod"]
SpecOption = Annotated[
    Path | None, typer.Option("--spec", help="Spec file (default: $DAYFLOW_SPEC or dayflow.yaml)")
]
EnvOption = Annotated[
    EnvName | None, typer.Option("--env", help="Environment (default: $DAYFLOW_ENV or local)")
]


def get_spec(path: Path | None = None) -> Spec:
    return load_spec(path or get_settings().spec)


def get_env(env: EnvName | None) -> EnvName:
    return env or get_settings().env


def get_job_runner(env: EnvName | None = None) -> JobRunnerClient:
    """A client of the environment's job-runner: the local stack's, or $DAYFLOW_JOB_RUNNER_URL."""
    settings = get_settings()
    env = get_env(env)
    if settings.job_runner_url:
        if env == "local":
            return JobRunnerClient(settings.job_runner_url)
        return JobRunnerClient.for_cloud_run(settings.job_runner_url)
    if env != "local":
        raise UserError(
            f"no job-runner URL for env {env!r} (expected DAYFLOW_JOB_RUNNER_URL, "
            "e.g. the Cloud Run URL from `pulumi stack output job_runner_url`)"
        )
    from dayflow.local.stack import get_stack

    return JobRunnerClient(get_stack(settings.state_dir)["job_runner_url"])


def get_executions(spec: Spec, env: EnvName | None = None) -> WorkflowsExecutions:
    """The Workflows Executions API of the environment: the local engine's, or GCP's."""
    settings = get_settings()
    env = get_env(env)
    environment = spec.get_environment(env)
    location = settings.workflows_location or environment.region
    endpoint = settings.workflows_endpoint
    if env == "local" and endpoint is None:
        from dayflow.local.stack import get_stack

        stack = get_stack(settings.state_dir)
        endpoint, location = stack["workflows_grpc"], stack["workflows_location"]
    return WorkflowsExecutions(environment.gcp_project, location, endpoint)
