"""A recording reverse proxy: one listening port per acting identity, in front of a real server.

The IAM contract test points each workload at the port of the identity it runs as in GCP
(the job-runner's BigQuery endpoint at the job-runner account's port, the ingest function's at
the ingest account's, each workflow's `JOB_RUNNER_URL` at its own account's port in front of the
job-runner). Locally nothing authenticates, so the port is what says who is calling. Every
request is forwarded unchanged and recorded with the identity of its port; the responses are
passed back unchanged, so the workloads behave exactly as without the proxy.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business, never forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
}


@dataclass(frozen=True)
class HttpCall:
    """One request a workload made, as the server saw it."""

    identity: str  # the identity of the port it arrived on
    verb: str
    path: str  # without the query string
    query: Mapping[str, str]
    body: Any  # decoded JSON, or None
    user_agent: str
    status: int
    # The decoded JSON answer of a POST (job ids BigQuery assigned are read from it), else None.
    response: Any = None


@dataclass
class Recording:
    """Every call recorded so far, in arrival order (thread-safe)."""

    calls: list[HttpCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: HttpCall) -> None:
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> list[HttpCall]:
        with self._lock:
            return list(self.calls)


def _handler(identity: str, upstream: urllib.parse.SplitResult, recording: Recording) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: pytest runs with warnings as errors and captures output

        def _forward(self) -> None:
            payload = self._read_body()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn = http.client.HTTPConnection(upstream.netloc, timeout=600)
            try:
                conn.request(self.command, self.path, payload or None, headers)
                response = conn.getresponse()
                content = response.read()
            finally:
                conn.close()
            url = urllib.parse.urlsplit(self.path)
            recording.add(
                HttpCall(
                    identity=identity,
                    verb=self.command,
                    path=url.path,
                    query=dict(urllib.parse.parse_qsl(url.query)),
                    body=_decode(payload),
                    user_agent=self.headers.get("User-Agent", ""),
                    status=response.status,
                    response=_decode(content) if self.command == "POST" else None,
                )
            )
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after each chunk
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

    return Handler


def _decode(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return None


@contextmanager
def recording_proxies(
    upstream: str, identities: list[str], recording: Recording
) -> Iterator[dict[str, str]]:
    """Serve one proxy per identity on 127.0.0.1, forwarding to `upstream`; yield their URLs."""
    target = urllib.parse.urlsplit(upstream)
    servers: list[ThreadingHTTPServer] = []
    urls: dict[str, str] = {}
    try:
        for identity in identities:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(identity, target, recording))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
            urls[identity] = f"http://127.0.0.1:{server.server_address[1]}"
        yield urls
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
