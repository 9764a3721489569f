"""Run every workload once against the local stand-ins, recording the Google API calls it makes.

What runs, each pointed at the recording proxy port of the identity it has in GCP:
- the ingest function (functions-framework's `create_app`): one batch of order and customer
  events for one day, plus one invalid event (dead-lettered);
- the Workflows YAML on our engine, each workflow's `JOB_RUNNER_URL` at its own port in front of
  the real job-runner (uvicorn): `backfill` of one day of `shop_daily`, started by the
  job-runner's POST /backfills through the engine's gRPC Executions API (its child
  `backfill_chunk` runs the SQL jobs), and `run_partition` of one day of `shop_events` (the
  dedup jobs, dbt, and a Dataform CLI job this test adds to the tests project's spec);
- the job-runner's BigQuery endpoint at the job-runner account's port; dbt and the Dataform CLI
  get that endpoint from the job-runner, and are told apart by their User-Agent.

Before the run, the warehouse is set up as `pulumi up` leaves it (infra's datasets and owned
tables, `dayflow/infra/catalog.py`), straight on the emulator and not recorded: that is infra's doing.
Workflow connector calls (`googleapis.workflowexecutions...`) run inside the engine, with no
HTTP boundary: they are read from the source of each workflow that executed.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dayflow.package_files import get_ingest_function_dir, get_workflows_dir
from tests.conftest import PROJECT, Server, write_spec
from tests.iam.recorder import HttpCall, Recording, recording_proxies

WORKFLOWS_DIR = get_workflows_dir()
FUNCTION_SOURCE = get_ingest_function_dir() / "main.py"
PARTITION_KEY = "2024-01-05"
# The identities whose calls are recorded, named as infra names their service accounts
# (`dayflow/infra/components/service_accounts.py`); workflows get `wf-<stem>` there too.
JOB_RUNNER = "job-runner"
INGEST = "ingest"
CE_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
_CONNECTOR = re.compile(
    r"call:\s*googleapis\.workflowexecutions\.v1\.projects\.locations\.workflows\.executions\."
    r"(?P<method>run|create|get)\b(?P<rest>.*?)(?=\n\s*(?:-\s|result:|next:)|\Z)",
    re.S,
)
_WORKFLOW_ID = re.compile(r"workflow_id:\s*([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class WorkloadRun:
    """What one run of every workload recorded, and the spec it ran."""

    calls: list[HttpCall]
    spec_path: Path
    dataset_prefix: str
    # Workflow id -> its identity (`wf-<stem>`), for every workflow that executed.
    workflows: dict[str, str]


def workflow_identity(stem: str) -> str:
    """The infra workload key of a workflow (`infra.components.service_accounts`)."""
    return "wf-" + stem.replace("_", "-")


def get_dataform_project() -> Path:
    """tests/project/dataform; in a git worktree whose node_modules links to another checkout's,
    that checkout's project (Node resolves the CLI's dependencies from the real path)."""
    return (PROJECT / "dataform" / "node_modules").resolve().parent


def write_iam_spec(folder: Path) -> Path:
    """The tests project's spec with its own dataset prefix, plus one Dataform CLI job in shop_events."""
    path = write_spec(folder)
    spec = yaml.safe_load(path.read_text())
    jobs = spec["pipelines"]["shop_events"]["jobs"]
    jobs["mart_dbt"]["project_dir"] = str(PROJECT / "dbt")
    jobs["mart_dataform"] = {
        "kind": "dataform",
        "project_dir": str(get_dataform_project()),
        "depends_on": ["orders_semantic", "customers_semantic"],
        # Its tables (definitions/mart) and its assertions (workflow_settings.yaml's
        # defaultAssertionDataset), and the semantic tables it reads (definitions/sources.js).
        "writes": ["mart", "dataform_assertions"],
        "reads": ["semantic"],
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def create_infra_warehouse(spec_path: Path, bigquery_endpoint: str) -> None:
    """Create what `pulumi up` creates in BigQuery: infra's datasets and owned tables."""
    from dayflow.infra import catalog
    from dayflow.ledger import ensure_table
    from dayflow.spec import load_spec
    from dayflow.warehouse import make_bigquery_client

    spec = load_spec(spec_path)
    environment = spec.get_environment("local")
    with make_bigquery_client("local", bigquery_endpoint) as client:
        for dataset in catalog.get_datasets(spec):
            client.create_dataset(f"local.{environment.get_dataset_id(dataset)}", exists_ok=True)
        for table in catalog.get_owned_tables(spec):
            ensure_table(client, "local", environment.get_dataset_id(table.dataset), table)


def _events(topic: str, count: int) -> list[dict[str, Any]]:
    """The first `count` events of `topic` updated on PARTITION_KEY (tests/project/events)."""
    lines = (PROJECT / "events" / f"{topic}.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    return [e for e in events if e["updated_at"].startswith(PARTITION_KEY)][:count]


def _cloud_event(topic: str, payload: bytes) -> tuple[dict[str, str], bytes]:
    message_id = uuid.uuid4().hex
    headers = {
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-source": f"//pubsub.googleapis.com/projects/local/topics/{topic}",
        "ce-type": CE_TYPE,
        "ce-time": f"{PARTITION_KEY}T12:00:00Z",
        "Content-Type": "application/json",
    }
    message = {
        "data": base64.b64encode(payload).decode(),
        "messageId": message_id,
        "publishTime": f"{PARTITION_KEY}T12:00:00Z",
    }
    body = {"message": message, "subscription": f"projects/local/subscriptions/{topic}-ingest"}
    return headers, json.dumps(body).encode()


def ingest_one_batch(spec_path: Path, tmp: Path, endpoint: str, environ: dict[str, str]) -> None:
    """Post a day of events (and one bad one) to the real function; `environ` gets its env."""
    from functions_framework import create_app

    from dayflow.ingest_config import get_ingest_env, write_ingest_config
    from dayflow.spec import load_spec

    spec = load_spec(spec_path)
    config = write_ingest_config(spec, "local", tmp / "ingest_config.json")
    environ.update(get_ingest_env(spec, "local", config_file=config, bigquery_endpoint=endpoint))
    client = create_app("ingest_event", str(FUNCTION_SOURCE)).test_client()  # type: ignore[no-untyped-call]
    try:
        batches = [
            (topic, json.dumps(event).encode())
            for topic in ("orders", "customers")
            for event in _events(topic, 20)
        ]
        batches.append(("orders", b"{not json"))  # goes to the dead-letter table
        for topic, payload in batches:
            headers, body = _cloud_event(topic, payload)
            response = client.post("/", headers=headers, data=body)
            assert response.status_code == 200, response.get_data(as_text=True)
    finally:
        sys.modules["main"].close_ingestor()


def get_connector_calls(workflow_id: str, identity: str) -> list[HttpCall]:
    """The Workflow Executions connector calls in a workflow's source, as calls it makes."""
    source = (WORKFLOWS_DIR / f"{workflow_id}.workflows.yaml").read_text()
    calls = []
    for match in _CONNECTOR.finditer(source):
        target = _WORKFLOW_ID.search(match["rest"])
        calls.append(
            HttpCall(
                identity=identity,
                verb="CONNECTOR",
                path=f"workflowexecutions.executions.{match['method']}",
                query={"workflow": target[1] if target else "*"},
                body=None,
                user_agent="workflows-connector",
                status=200,
            )
        )
    return calls


def start_backfill_through_job_runner(runner_url: str, engine: Any) -> list[HttpCall]:
    """POST /backfills (one day of shop_daily), wait for the execution; return its API call.

    The job-runner is the engine's only gRPC client here, so the `backfill` execution that
    appears is its `workflows.executions.create` (recorded as the job-runner's call).
    """
    import httpx

    body = {"pipeline": "shop_daily", "start": PARTITION_KEY, "end": PARTITION_KEY}
    response = httpx.post(f"{runner_url}/backfills", json=body, timeout=120)
    assert response.status_code == 200, response.text
    (execution,) = engine.list_executions("backfill")
    # The deadline follows the work: the execution ends by itself (success or failure).
    while not execution.wait(1.0):
        pass
    assert execution.state == "SUCCEEDED", execution.error
    call = HttpCall(
        identity=JOB_RUNNER,
        verb="RPC",
        path="workflowexecutions.executions.create",
        query={"workflow": "backfill"},
        body=None,
        user_agent="google-cloud-workflows (gRPC)",
        status=200,
    )
    return [call]


@contextmanager
def run_workloads(bigquery_endpoint: str, tmp: Path) -> Iterator[WorkloadRun]:
    """Run every workload once through recording proxies; yield what was recorded."""
    import os

    from dayflow.spec import load_spec
    from dayflow.workflows_engine import FakeClock, WorkflowEngine
    from dayflow.workflows_engine.grpc_api import start_grpc_server
    from job_runner.core.config import JobRunnerSettings
    from job_runner.main import create_app

    spec_path = write_iam_spec(tmp)
    environment = load_spec(spec_path).get_environment("local")
    prefix = environment.dataset_prefix
    create_infra_warehouse(spec_path, bigquery_endpoint)
    recording = Recording()
    stems = sorted(p.name.removesuffix(".workflows.yaml") for p in WORKFLOWS_DIR.glob("*.yaml"))
    saved_env = dict(os.environ)
    with ExitStack() as stack:
        bigquery = stack.enter_context(
            recording_proxies(bigquery_endpoint, [JOB_RUNNER, INGEST], recording)
        )
        try:
            ingest_one_batch(spec_path, tmp, bigquery[INGEST], os.environ)  # type: ignore[arg-type]
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
        # The engine serves the Workflow Executions API (gRPC) to the job-runner, which starts
        # `backfill` executions there (POST /backfills), as it does in GCP.
        engine = WorkflowEngine(clock=FakeClock(), location=environment.region)
        stack.callback(engine.close)
        grpc_server, grpc_port = start_grpc_server(engine, "127.0.0.1", 0)
        stack.callback(grpc_server.stop, None)
        # As infra configures it (JOB_RUNNER_BIGQUERY_LOCATION = the environment's region).
        settings = JobRunnerSettings(
            spec_path=spec_path,
            bigquery_endpoint=bigquery[JOB_RUNNER],
            bigquery_location=environment.region,
            workflows_endpoint=f"127.0.0.1:{grpc_port}",
            workflows_location=environment.region,
        )
        runner = stack.enter_context(Server(create_app(settings)))
        front = stack.enter_context(
            recording_proxies(runner.url, [workflow_identity(s) for s in stems], recording)
        )
        for stem in stems:
            source = (WORKFLOWS_DIR / f"{stem}.workflows.yaml").read_text()
            engine.deploy(stem, source, env={"JOB_RUNNER_URL": front[workflow_identity(stem)]})
        calls = start_backfill_through_job_runner(runner.url, engine)
        execution = engine.run(
            "run_partition", {"pipeline": "shop_events", "partition_key": PARTITION_KEY}
        )
        assert execution.state == "SUCCEEDED", execution.error
        executed = {s: workflow_identity(s) for s in stems if engine.list_executions(s)}
        calls += recording.snapshot()
        for stem, identity in executed.items():
            calls += get_connector_calls(stem, identity)
        yield WorkloadRun(calls, spec_path, prefix, executed)
