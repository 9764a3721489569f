"""A local HTTP proxy to a private job-runner's status page, adding the caller's ID token.

Cloud Run admits only requests with a Google-signed ID token, which a browser cannot mint;
`dayflow ui --env dev` starts this proxy on 127.0.0.1, and every request the browser sends to it
goes on to the job-runner with `Authorization: Bearer <ID token>` (from dayflow.runner_auth,
refreshed before it expires, as `dayflow.runner_client.IdTokenAuth` does for the CLI).

The proxy holds the user's credentials, so it forwards only what the page needs and only from
the page itself:

- paths under `/ui` only (not the job-runner's API);
- a `Host` of 127.0.0.1 or localhost on its own port only (another site's name resolving to
  127.0.0.1, DNS rebinding, gets 403);
- a POST only from its own origin (a browser names the page's origin in `Origin`; another site's
  gets 403); the job-runner then sees its own origin, and its own checks (the page's header,
  the caller's right to start backfills) apply as to any caller.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

# Request headers passed on to the job-runner (no cookies, no browser credentials).
FORWARDED_REQUEST = ("accept", "content-type", "x-dayflow-ui", "traceparent")
# Response headers passed back to the browser.
FORWARDED_RESPONSE = (
    "content-type", "cache-control", "content-security-policy", "x-content-type-options",
    "referrer-policy", "retry-after",
)  # fmt: skip
MAX_BODY_BYTES = 1024 * 1024  # the job-runner's own limit


class UiProxy:
    """The proxy server: `start()` serves on 127.0.0.1 in a thread, `url` is what to open."""

    def __init__(self, target_url: str, http: httpx.Client, port: int = 0) -> None:
        """Args:
        target_url: the job-runner's URL (the ID token's audience).
        http: the client that reaches it, with its `auth` adding the ID token.
        port: where to listen (0: a free port).
        """
        self.target = urlsplit(target_url.rstrip("/"))
        handler = type("Handler", (_Handler,), {"proxy": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.http = http
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ui"

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})

    def start(self) -> UiProxy:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> UiProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    proxy: ClassVar[UiProxy]
    server_version = "dayflow-ui-proxy"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the CLI prints the URL, not one line per request."""

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")

    def _refuse(self, status: int, message: str) -> None:
        body = f"{message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method: str) -> None:
        proxy = self.proxy
        host = self.headers.get("Host", "")
        if host not in proxy.hosts:
            self._refuse(403, f"host {host!r} refused (expected {sorted(proxy.hosts)[0]})")
            return
        path = urlsplit(self.path).path
        if path != "/ui" and not path.startswith("/ui/"):
            self._refuse(404, f"{path} is not part of the status page (expected /ui...)")
            return
        origin = self.headers.get("Origin")
        if method != "GET" and origin is not None and urlsplit(origin).netloc not in proxy.hosts:
            self._refuse(403, f"origin {origin!r} may not post through this proxy")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._refuse(413, f"body of {length} bytes (expected at most {MAX_BODY_BYTES})")
            return
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_REQUEST}
        if method != "GET":
            # The job-runner compares Origin with its own host: the page's origin is checked above.
            headers["Origin"] = f"{proxy.target.scheme}://{proxy.target.netloc}"
        url = f"{proxy.target.scheme}://{proxy.target.netloc}{self.path}"
        try:
            response = proxy.http.request(method, url, content=body, headers=headers)
        except Exception as err:  # the job-runner unreachable, or no token could be minted
            self._refuse(502, f"the job-runner at {url} did not answer: {err}")
            return
        self.send_response(response.status_code)
        for name in FORWARDED_RESPONSE:
            if name in response.headers:
                self.send_header(name, response.headers[name])
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)
