"""Fixtures: the real job-runner app over real HTTP, with the local Workflows engine's gRPC API
behind it (through the real google-cloud-workflows client)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dayflow.local.stack import create_warehouse
from dayflow.spec import load_spec
from dayflow.workflows_engine import WorkflowEngine
from dayflow.workflows_engine.grpc_api import start_grpc_server
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server, write_spec

LOCATION = "europe-north1"
# Stand-ins for the real workflows: they return their argument, so tests see what was started.
ECHO = """
main:
  params: [args]
  steps:
    - done:
        return: ${args}
"""


@pytest.fixture
def engine() -> Iterator[WorkflowEngine]:
    engine = WorkflowEngine(project="local", location=LOCATION)
    engine.deploy("run_partition", ECHO)
    engine.deploy("backfill", ECHO)
    yield engine
    engine.close()


@dataclass
class App:
    """A running job-runner: its FastAPI app (state is an injection point), HTTP client and
    spec."""

    app: FastAPI
    http: httpx.Client
    spec_path: Path
    workflows_endpoint: str | None


def start_app(
    tmp_path: Path, bigquery_endpoint: str, workflows_endpoint: str | None, **settings: Any
) -> Iterator[App]:
    """Start the job-runner (`workflows_endpoint` None: as in GCP, with no credentials here, so
    any Workflows call would fail)."""
    spec_path = write_spec(tmp_path)
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    app = create_app(
        JobRunnerSettings(
            spec_path=spec_path,
            bigquery_endpoint=bigquery_endpoint,
            workflows_location=LOCATION,
            workflows_endpoint=workflows_endpoint,
            **settings,
        )
    )
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        yield App(app, http, spec_path, workflows_endpoint)


@pytest.fixture
def runner_app(tmp_path: Path, bigquery_endpoint: str, engine: WorkflowEngine) -> Iterator[App]:
    """The job-runner with the engine behind it, over fresh datasets."""
    server, port = start_grpc_server(engine, "127.0.0.1", 0)
    yield from start_app(tmp_path, bigquery_endpoint, f"127.0.0.1:{port}")
    server.stop(None)


@pytest.fixture
def http(runner_app: App) -> httpx.Client:
    return runner_app.http
