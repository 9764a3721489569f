"""Contract tests: schemathesis drives the app in-process (ASGI) from its own OpenAPI, with a
real BigQuery emulator and the local Workflows engine behind it, running every check: no 5xx,
every status, header and body as documented, bad input refused and good input accepted.

Positive data may still be refused with 422: bounds that depend on the clock ("the partition
containing now"), calendar dates (2024-02-30 matches the key pattern) and start <= end are not
expressible in JSON Schema, so 422 is an expected answer to schema-valid input here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from dayflow.ledger import ensure_table
from dayflow.spec import load_spec
from dayflow.tables import LEDGER
from dayflow.warehouse import make_bigquery_client
from dayflow.workflows_engine import WorkflowEngine
from dayflow.workflows_engine.grpc_api import start_grpc_server
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import write_spec
from tests.job_runner.conftest import ECHO, LOCATION

pytestmark = pytest.mark.emulator

# Bounded: a few examples per operation besides the explicit examples and coverage phases.
CONFIG = """
[generation]
max-examples = 8
deterministic = true

[checks]
positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]
"""


# Built at import with no settings (the OpenAPI needs none); the fixture below gives it its
# settings before the first call (schemathesis' lazy fixture loader fails on pytest 9).
APP = create_app()
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", APP, config=SchemathesisConfig.from_str(CONFIG)
)


@pytest.fixture(scope="module", autouse=True)
def backends(tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str) -> Iterator[None]:
    """The emulator and the Workflows engine behind APP, over fresh datasets."""
    engine = WorkflowEngine(project="local", location=LOCATION)
    engine.deploy("run_partition", ECHO)
    engine.deploy("backfill", ECHO)
    server, port = start_grpc_server(engine, "127.0.0.1", 0)
    spec_path = write_spec(Path(tmp_path_factory.mktemp("contract")))
    env = load_spec(spec_path).get_environment("local")
    with make_bigquery_client("local", bigquery_endpoint) as client:
        ensure_table(client, "local", env.get_dataset_id(LEDGER.dataset), LEDGER)
    APP.state.settings = JobRunnerSettings(
        spec_path=spec_path,
        bigquery_endpoint=bigquery_endpoint,
        workflows_location=LOCATION,
        workflows_endpoint=f"127.0.0.1:{port}",
    )
    yield
    runner = getattr(APP.state, "runner", None)
    if runner is not None:
        runner.client.close()
    server.stop(None)
    engine.close()


@schema.parametrize()
def test_the_api_does_what_its_openapi_says(case: Any) -> None:
    case.call_and_validate()
