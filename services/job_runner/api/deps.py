"""FastAPI dependencies: the runner is built once per app, on first use (not at import)."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from dayflow.executions import Executions, WorkflowsExecutions
from dayflow.ledger import RunLedger, get_ledger_ref
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from job_runner.core.config import JobRunnerSettings, get_settings
from job_runner.domain.faults import Faults
from job_runner.domain.runner import JobRunner

_build_lock = threading.Lock()


def build_runner(settings: JobRunnerSettings) -> JobRunner:
    spec = load_spec(settings.spec_path)
    environment = spec.get_environment(settings.env)
    project = settings.gcp_project or environment.gcp_project
    client = make_bigquery_client(project, settings.bigquery_endpoint, settings.bigquery_location)
    ledger = RunLedger(client, get_ledger_ref(project, environment.dataset_prefix))
    faults = Faults(settings.faults_file) if settings.faults_file else None
    return JobRunner(
        spec,
        settings.env,
        client,
        ledger,
        faults=faults,
        bigquery_endpoint=settings.bigquery_endpoint,
        max_concurrent_runs=settings.max_concurrent_runs,
        run_hold_seconds=settings.run_hold_seconds,
    )


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


def get_executions(
    request: Request, runner: Annotated[JobRunner, Depends(get_runner)]
) -> Executions:
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


RunnerDep = Annotated[JobRunner, Depends(get_runner)]
ExecutionsDep = Annotated[Executions, Depends(get_executions)]
