"""Run the local Workflows engine as a server on 127.0.0.1.

    python -m dayflow.workflows_engine.server --port 8090 --workflows-dir workflows \
        [--grpc-port 8091] [--env KEY=VALUE ...] [--project local] [--location us-central1]
        [--history-file executions.jsonl]

Serves the Executions REST API on `--port` and, with `--grpc-port`, the same API over gRPC
(the transport of the Python `ExecutionsClient`). Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import uvicorn

from .engine import WorkflowEngine
from .errors import WorkflowDefinitionError
from .grpc_api import start_grpc_server
from .history import ExecutionHistory
from .rest_api import create_app

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_host(host: str) -> None:
    if host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"host {host!r} is not a loopback address (expected one of {LOOPBACK_HOSTS})"
        )


def serve(
    *,
    port: int,
    workflows_dir: str | Path,
    host: str = "127.0.0.1",
    grpc_port: int | None = None,
    env: Mapping[str, str] | None = None,
    project: str = "local",
    location: str = "us-central1",
    history_file: str | Path | None = None,
) -> None:
    """Deploy every `*.workflows.yaml` of `workflows_dir` and serve until interrupted.

    Raises:
        ValueError: `host` is not a loopback address.
        WorkflowDefinitionError: a workflow file is invalid.
    """
    check_host(host)
    history = ExecutionHistory(history_file) if history_file is not None else None
    engine = WorkflowEngine.from_directory(
        workflows_dir, project=project, location=location, env=env or {}, history=history
    )
    grpc_server = None
    if grpc_port is not None:
        grpc_server, _ = start_grpc_server(engine, host, grpc_port)
    try:
        uvicorn.run(create_app(engine), host=host, port=port, log_level="warning")
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=None)
        engine.close()


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--env {text!r} is not KEY=VALUE")
    return key, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dayflow.workflows_engine.server")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, required=True, help="REST API port")
    parser.add_argument("--grpc-port", type=int, default=None, help="optional gRPC API port")
    parser.add_argument("--workflows-dir", required=True, help="folder of *.workflows.yaml")
    parser.add_argument("--env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--project", default="local")
    parser.add_argument("--location", default="us-central1")
    parser.add_argument(
        "--history-file", default=None, help="JSON Lines file keeping executions across restarts"
    )
    args = parser.parse_args(argv)
    try:
        serve(
            port=args.port,
            workflows_dir=args.workflows_dir,
            host=args.host,
            grpc_port=args.grpc_port,
            env=dict(args.env),
            project=args.project,
            location=args.location,
            history_file=args.history_file,
        )
    except (ValueError, WorkflowDefinitionError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
