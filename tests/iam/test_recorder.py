"""The recording proxy forwards requests unchanged (chunked or not, on kept-alive connections)
and records each with the identity of the port it arrived on."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.iam.recorder import Recording, recording_proxies


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_proxy_forwards_unchanged_and_records_the_identity_of_its_port(echo_url: str) -> None:
    recording = Recording()
    with recording_proxies(echo_url, ["job-runner", "ingest"], recording) as urls:
        conn = http.client.HTTPConnection(urls["ingest"].removeprefix("http://"))
        chunks = iter([b'{"rows":', b" [1]}"])
        conn.request("POST", "/t?x=1", body=chunks, encode_chunked=True)
        first = conn.getresponse()
        assert (first.status, first.read()) == (201, b'{"rows": [1]}')
        conn.request("POST", "/u", body=b'{"n": 2}')  # the same kept-alive connection
        second = conn.getresponse()
        assert (second.status, second.read()) == (201, b'{"n": 2}')
        conn.close()
    calls = recording.snapshot()
    assert [(c.identity, c.path, c.query, c.body, c.status) for c in calls] == [
        ("ingest", "/t", {"x": "1"}, {"rows": [1]}, 201),
        ("ingest", "/u", {}, {"n": 2}, 201),
    ]
