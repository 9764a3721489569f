"""FastAPI dependencies: the runner is built once per app, on first use (not at import)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from dayflow.executions import Executions, WorkflowsExecutions
from dayflow.ledger import RunLedger, get_ledger_ref
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from job_runner.core.config import JobRunnerSettings, get_settings
from job_runner.domain.faults import Faults
from job_runner.domain.runner import JobRunner, TransformAccounts

_build_lock = threading.Lock()


def build_runner(settings: JobRunnerSettings) -> JobRunner:
    spec = load_spec(settings.spec_path)
    environment = spec.get_environment(settings.env)
    project = settings.gcp_project or environment.gcp_project
    # Every job call carries the location: regional jobs answer jobs.get only with it.
    location = settings.bigquery_location or environment.region
    client = make_bigquery_client(project, settings.bigquery_endpoint, location)
    ledger = RunLedger(client, get_ledger_ref(project, environment.dataset_prefix))
    faults = Faults(settings.faults_file) if settings.faults_file else None
    return JobRunner(
        spec,
        settings.env,
        client,
        ledger,
        faults=faults,
        bigquery_endpoint=settings.bigquery_endpoint,
        location=location,
        transform_accounts=TransformAccounts(
            dbt=settings.dbt_service_account, dataform=settings.dataform_service_account
        ),
        max_concurrent_runs=settings.max_concurrent_runs,
        run_hold_seconds=settings.run_hold_seconds,
        service_urls=settings.service_urls,
    )


def get_app_settings(request: Request) -> JobRunnerSettings:
    """The settings the app was built with, else the environment's."""
    settings: JobRunnerSettings | None = getattr(request.app.state, "settings", None)
    return settings or get_settings()


def get_runner(request: Request) -> JobRunner:
    state = request.app.state
    runner: JobRunner | None = getattr(state, "runner", None)
    if runner is None:
        with _build_lock:
            runner = getattr(state, "runner", None)
            if runner is None:
                settings = getattr(state, "settings", None) or get_settings()
                runner = state.runner = build_runner(settings)
    return runner


def get_executions(request: Request, runner: JobRunner) -> Executions:
    """The app's Workflows Executions client, built on first use."""
    state = request.app.state
    executions: Executions | None = getattr(state, "executions", None)
    if executions is None:
        with _build_lock:
            executions = getattr(state, "executions", None)
            if executions is None:
                settings = getattr(state, "settings", None) or get_settings()
                location = settings.workflows_location or runner.environment.region
                executions = state.executions = WorkflowsExecutions(
                    runner.project, location, settings.workflows_endpoint
                )
    return executions


def get_executions_factory(
    request: Request, runner: Annotated[JobRunner, Depends(get_runner)]
) -> Callable[[], Executions]:
    """The Executions client on demand: a dry-run backfill never builds one (so it needs no
    Workflows credentials or endpoint)."""
    return lambda: get_executions(request, runner)


RunnerDep = Annotated[JobRunner, Depends(get_runner)]
SettingsDep = Annotated[JobRunnerSettings, Depends(get_app_settings)]
ExecutionsFactoryDep = Annotated[Callable[[], Executions], Depends(get_executions_factory)]
