"""The domain's own HTTP services on the local stack (`services:` in the spec), which `http` jobs
call: each `local.command` runs in the spec's directory, on 127.0.0.1 and a port of its own.

The command's environment: `PORT` (as Cloud Run sets it; `{port}` in an argument is replaced
too), `BIGQUERY_EMULATOR_HOST` (the emulator's URL, which google-cloud-bigquery honours as its
endpoint), `GOOGLE_CLOUD_PROJECT=local`, and `PATH` with this interpreter's `bin/` first, so
`python` and `uvicorn` are the dayflow environment's. Each runs as process `service-<name>`
(pid file and log in the state directory); `dayflow local down` stops it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dayflow.local.process import get_free_port, start_process, stop_process
from dayflow.spec import Spec
from dayflow.spec_services import get_http_services

PREFIX = "service-"


def get_service_ports(spec: Spec) -> dict[str, int]:
    """A free port for each service that an http job calls (services no job calls are not run)."""
    return {name: get_free_port() for name in get_http_services(spec)}


def start_service(spec: Spec, name: str, port: int, state_dir: Path, bigquery_endpoint: str) -> str:
    """Start service `name` of `spec`; wait until it listens on 127.0.0.1:`port`; return its URL."""
    service = spec.services[name]
    argv = [arg.replace("{port}", str(port)) for arg in service.local.command]
    bin_dir = str(Path(sys.executable).parent)
    proc = start_process(
        f"{PREFIX}{name}",
        argv,
        port=port,
        state_dir=state_dir,
        cwd=spec.root.resolve(),
        env={
            "PORT": str(port),
            "BIGQUERY_EMULATOR_HOST": bigquery_endpoint,
            "GOOGLE_CLOUD_PROJECT": "local",
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        },
    )
    return proc.url


def stop_services(state_dir: Path) -> list[str]:
    """Stop every service process recorded in `state_dir`; return their process names."""
    names = sorted(p.stem for p in state_dir.glob(f"{PREFIX}*.json"))
    return [name for name in names if stop_process(name, state_dir)]
