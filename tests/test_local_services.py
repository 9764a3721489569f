"""`dayflow local up` serves the domain's own services (dayflow.local.services): each command runs
in the spec's folder with the port it must listen on, the emulator's address and this
environment's `python`; `local down` stops it. Driven with a tiny stdlib server as the service."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import yaml

from dayflow.local.process import get_process
from dayflow.local.services import get_service_ports, start_service, stop_services
from dayflow.spec import load_spec

# Answers any GET with what it sees: its folder, environment and interpreter.
SERVICE = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "cwd": os.getcwd(), "argv": sys.argv[1:], "executable": sys.executable,
            **{k: os.environ.get(k) for k in ("PORT", "BIGQUERY_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")},
        }).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Echo).serve_forever()
"""


def test_a_called_service_runs_in_the_spec_folder_on_its_port_and_stops(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "svc").mkdir(parents=True)
    (project / "svc" / "echo.py").write_text(SERVICE)
    spec_path = project / "dayflow.yaml"
    spec_path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "svc",
                "environments": {"local": {"gcp_project": "local"}},
                "services": {
                    "echo": {"local": {"command": ["python", "svc/echo.py", "--port={port}"]}},
                    "idle": {"local": {"command": ["false"]}},  # no job calls it: not started
                },
                "pipelines": {
                    "p": {
                        "granularity": "day",
                        "timezone": "UTC",
                        "schedule": "0 1 * * *",
                        "start": "2024-01-01",
                        "jobs": {"call": {"kind": "http", "service": "echo"}},
                    }
                },
            }
        )
    )
    spec = load_spec(spec_path)
    ports = get_service_ports(spec)
    assert list(ports) == ["echo"]
    state = tmp_path / "state"
    url = start_service(spec, "echo", ports["echo"], state, "http://127.0.0.1:9999")
    try:
        assert url == f"http://127.0.0.1:{ports['echo']}"
        with urllib.request.urlopen(url, timeout=10) as response:
            seen = json.loads(response.read())
    finally:
        stopped = stop_services(state)
    assert seen == {
        "cwd": str(project.resolve()),
        "argv": [f"--port={ports['echo']}"],
        "executable": seen["executable"],
        "PORT": str(ports["echo"]),
        "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9999",
        "GOOGLE_CLOUD_PROJECT": "local",
    }
    # `python` is this environment's interpreter (its bin/ comes first on PATH).
    assert Path(seen["executable"]).parent == Path(sys.executable).parent
    assert stopped == ["service-echo"]
    assert get_process("service-echo", state) is None
