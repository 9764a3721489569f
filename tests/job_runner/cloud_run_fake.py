"""A fake of the Cloud Run Admin API v2 REST surface that `cloud_run_job` uses, on 127.0.0.1.

The real `run_v2.JobsClient` and `ExecutionsClient` (REST transport) talk to it, so the request
the job-runner builds (overrides included) goes through the real client's serialization. It
answers, as https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/run
and .../operations/get describe:

- `POST /v2/projects/P/locations/L/jobs/J:run`: a long-running operation whose metadata is the
  new Execution; `behaviour` says how it ends: `succeed`, `fail` (the operation ends with an
  error, the Execution counts a failed task), `hang` (never done), `unavailable` (503),
  `missing` (404);
- `GET /v2/projects/P/locations/L/operations/O`: the operation, done after `polls` reads;
- `POST /v2/projects/P/locations/L/jobs/J/executions/E:cancel`: records the cancel.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_EXECUTION = "type.googleapis.com/google.cloud.run.v2.Execution"


@dataclass
class FakeCloudRun:
    behaviour: str = "succeed"
    polls: int = 1
    runs: list[dict[str, Any]] = field(default_factory=list)  # (job, request body)
    cancelled: list[str] = field(default_factory=list)
    _operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    _reads: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = fake.post(self.path.split("?")[0], body)
                self._send(status, answer)

            def do_GET(self) -> None:
                status, answer = fake.get(self.path.split("?")[0])
                self._send(status, answer)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if m := re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+)/jobs/([^/:]+):run", path):
            parent, job = m.groups()
            if self.behaviour == "unavailable":
                return 503, _error(503, "UNAVAILABLE", "The service is currently unavailable.")
            if self.behaviour == "missing":
                return 404, _error(404, "NOT_FOUND", f"Resource '{job}' was not found")
            with self._lock:
                self.runs.append({"job": f"{parent}/jobs/{job}", "body": body})
                n = len(self.runs)
            name = f"{parent}/operations/op-{n}"
            execution = f"{parent}/jobs/{job}/executions/{job}-x{n}"
            self._operations[name] = {"name": name, "execution": execution}
            self._reads[name] = 0
            return 200, self._operation(name, done=False)
        if m := re.fullmatch(r"/v2/(.+/executions/[^/:]+):cancel", path):
            self.cancelled.append(m[1])
            return 200, {"name": f"{m[1]}-cancel", "done": True}
        return 404, _error(404, "NOT_FOUND", f"no route {path}")

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        name = path.removeprefix("/v2/")
        if name not in self._operations:
            return 404, _error(404, "NOT_FOUND", f"operation {name} not found")
        self._reads[name] += 1
        done = self.behaviour != "hang" and self._reads[name] >= self.polls
        return 200, self._operation(name, done=done)

    def _operation(self, name: str, *, done: bool) -> dict[str, Any]:
        execution_name = self._operations[name]["execution"]
        failed = done and self.behaviour == "fail"
        execution = {
            "@type": _EXECUTION,
            "name": execution_name,
            "taskCount": 1,
            "succeededCount": 1 if done and not failed else 0,
            "failedCount": 1 if failed else 0,
            "logUri": "https://console.cloud.google.com/logs/fake",
        }
        answer: dict[str, Any] = {"name": name, "done": done, "metadata": execution}
        if failed:
            answer["error"] = {"code": 9, "message": "Task score-x1-task0 failed: exit code 1"}
        elif done:
            answer["response"] = execution
        return answer


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message}}
