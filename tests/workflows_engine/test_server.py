"""The Executions API on 127.0.0.1: REST (httpx) and gRPC (the real ExecutionsClient)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc  # type: ignore[import-untyped]
import httpx
import pytest
import uvicorn
from google.auth.credentials import AnonymousCredentials
from google.cloud.workflows.executions_v1 import ExecutionsClient
from google.cloud.workflows.executions_v1.services.executions.transports import (
    ExecutionsGrpcTransport,
)
from google.cloud.workflows.executions_v1.types import Execution as ExecutionProto
from google.protobuf import json_format

from dayflow.workflows_engine import WorkflowEngine
from dayflow.workflows_engine.grpc_api import start_grpc_server
from dayflow.workflows_engine.rest_api import create_app
from dayflow.workflows_engine.server import check_host

GREET = """
main:
  params: [args]
  steps:
    - check:
        switch:
          - condition: ${"fail" in args}
            raise: {message: asked to fail, tags: [Requested]}
    - r:
        return: ${"hello " + args.name}
"""
BASE = "/v1/projects/local/locations/us-central1/workflows"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def rest_url(engine: WorkflowEngine) -> Iterator[str]:
    engine.deploy("greet", GREET)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def _wait_done(client: httpx.Client, name: str) -> dict[str, object]:
    for _ in range(500):
        body = client.get(f"/v1/{name}").json()
        if body["state"] != "ACTIVE":
            return dict(body)
        time.sleep(0.01)
    raise AssertionError(f"{name} still ACTIVE")


def test_rest_create_get_and_list_executions(rest_url: str) -> None:
    with httpx.Client(base_url=rest_url) as client:
        created = client.post(
            f"{BASE}/greet/executions", json={"argument": json.dumps({"name": "Ada"})}
        )
        assert created.status_code == 200
        name = created.json()["name"]
        assert name.startswith("projects/local/locations/us-central1/workflows/greet/executions/")
        done = _wait_done(client, name)
        assert done["state"] == "SUCCEEDED"
        assert json.loads(str(done["result"])) == "hello Ada"
        assert json.loads(str(done["argument"])) == {"name": "Ada"}
        assert done["labels"] == {"dayflow-local-steps": "2"}
        # The resource is valid protobuf JSON for the real Execution message.
        json_format.Parse(json.dumps(done), ExecutionProto.pb(ExecutionProto()))
        failed = client.post(
            f"{BASE}/greet/executions", json={"argument": json.dumps({"fail": True})}
        ).json()
        failed_done = _wait_done(client, failed["name"])
        assert failed_done["state"] == "FAILED"
        error = failed_done["error"]
        assert isinstance(error, dict)
        assert json.loads(error["payload"]) == {"message": "asked to fail", "tags": ["Requested"]}
        assert 'step "check"' in error["context"]

        listed = client.get(f"{BASE}/greet/executions", params={"pageSize": 1}).json()
        assert [e["name"] for e in listed["executions"]] == [failed["name"]]
        assert "argument" not in listed["executions"][0]  # BASIC view by default
        second = client.get(
            f"{BASE}/greet/executions",
            params={"pageSize": 1, "pageToken": listed["nextPageToken"], "view": "FULL"},
        ).json()
        assert [e["name"] for e in second["executions"]] == [name]
        assert "nextPageToken" not in second


def test_rest_errors_use_google_error_shape(rest_url: str) -> None:
    with httpx.Client(base_url=rest_url) as client:
        missing = client.post(f"{BASE}/nope/executions", json={})
        assert missing.status_code == 404
        assert missing.json()["error"]["status"] == "NOT_FOUND"
        too_big = client.post(
            f"{BASE}/greet/executions", json={"argument": json.dumps({"x": "y" * 40_000})}
        )
        assert too_big.status_code == 400
        assert too_big.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_rest_cancel_of_finished_execution_is_failed_precondition(rest_url: str) -> None:
    with httpx.Client(base_url=rest_url) as client:
        created = client.post(f"{BASE}/greet/executions", json={"argument": '{"name": "x"}'}).json()
        _wait_done(client, created["name"])
        cancel = client.post(f"/v1/{created['name']}:cancel", json={})
        assert cancel.status_code == 400
        assert cancel.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_python_executions_client_has_no_rest_transport() -> None:
    # google-cloud-workflows 1.24 generates only gRPC transports for executions_v1
    # (googleapis/google-cloud-python#13719); the local engine therefore also speaks gRPC.
    with pytest.raises(KeyError, match="rest"):
        ExecutionsClient(
            transport="rest",
            client_options={"api_endpoint": "http://127.0.0.1:1"},
            credentials=AnonymousCredentials(),
        )


def test_real_executions_client_creates_gets_and_lists_over_grpc(engine: WorkflowEngine) -> None:
    engine.deploy("greet", GREET)
    server, port = start_grpc_server(engine, "127.0.0.1", 0)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        client = ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))
        parent = client.workflow_path("local", "us-central1", "greet")
        created = client.create_execution(
            parent=parent, execution={"argument": json.dumps({"name": "Grace"})}
        )
        assert created.name.startswith(parent + "/executions/")
        for _ in range(500):
            fetched = client.get_execution(name=created.name)
            if fetched.state != ExecutionProto.State.ACTIVE:
                break
            time.sleep(0.01)
        assert fetched.state == ExecutionProto.State.SUCCEEDED
        assert json.loads(fetched.result) == "hello Grace"
        assert fetched.labels["dayflow-local-steps"] == "2"
        assert fetched.duration.total_seconds() >= 0
        listed = list(client.list_executions(parent=parent))
        assert [e.name for e in listed] == [created.name]
        with pytest.raises(Exception, match="not deployed"):
            client.get_execution(
                name=client.workflow_path("local", "us-central1", "nope") + "/executions/x"
            )
    finally:
        channel.close()
        server.stop(grace=None)


def test_server_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        check_host("0.0.0.0")


def test_server_module_entry_point_serves_a_workflows_folder(tmp_path: Path) -> None:
    (tmp_path / "greet.workflows.yaml").write_text(GREET)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dayflow.workflows_engine.server",
            "--port",
            str(port),
            "--workflows-dir",
            str(tmp_path),
            "--env",
            "STAGE=x",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            while True:
                try:
                    created = client.post(
                        f"{BASE}/greet/executions", json={"argument": '{"name": "cli"}'}
                    )
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            assert created.status_code == 200
            assert _wait_done(client, created.json()["name"])["state"] == "SUCCEEDED"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
