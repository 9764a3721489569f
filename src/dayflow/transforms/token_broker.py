"""A loopback token endpoint through which the Dataform CLI acts as a service account.

The CLI's credentials file can name an account to impersonate only from a key or a user's
refresh token, never from the metadata server, which is all the job-runner has on Cloud Run (see
dataform_credentials.py). It can, however, name an `external_account_authorized_user`, whose
access tokens google-auth-library (10.9.1, the CLI's) refreshes by POSTing
`grant_type=refresh_token` to the file's `token_url` with the client id and secret as HTTP basic
auth, and reading `access_token` and `expires_in` from the JSON answer. This broker is that
token URL, on 127.0.0.1 for the length of one run: it answers with access tokens of the
impersonated account, minted by google-auth in this process. The refresh token and client
secret are a random secret of this run, so no other local process can take tokens from it.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

_CLIENT_ID = "dayflow-token-broker"
# Never hand out a token with less than this many seconds left: the CLI caches it.
_MIN_LIFETIME = 300


class TokenBroker:
    """Serve access tokens of `credentials` at `token_url` while the context is open."""

    def __init__(self, credentials: Credentials, request: Any = None) -> None:
        self._credentials = credentials
        self._request = request
        self._secret = secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def get_credentials_json(self) -> dict[str, str]:
        """The credentials JSON the CLI's google-auth-library loads (`GoogleAuth.fromJSON`)."""
        return {
            "type": "external_account_authorized_user",
            "audience": "dayflow-token-broker",
            "client_id": _CLIENT_ID,
            "client_secret": self._secret,
            "refresh_token": self._secret,
            "token_url": self.token_url,
        }

    def __enter__(self) -> TokenBroker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _get_token(self) -> tuple[str, int]:
        with self._lock:
            self.requests += 1
            expiry = self._credentials.expiry
            left = (expiry.timestamp() - time.time()) if expiry else 0
            if not self._credentials.token or left < _MIN_LIFETIME:
                request = self._request
                if request is None:
                    import google.auth.transport.requests

                    request = self._request = google.auth.transport.requests.Request()
                self._credentials.refresh(request)  # type: ignore[no-untyped-call]
                expiry = self._credentials.expiry
                left = (expiry.timestamp() - time.time()) if expiry else 3600
            return str(self._credentials.token), int(left)

    def _is_authorized(self, headers: Any, form: dict[str, list[str]]) -> bool:
        expected = base64.b64encode(f"{_CLIENT_ID}:{self._secret}".encode()).decode()
        basic = str(headers.get("Authorization", "")).removeprefix("Basic ")
        token = (form.get("refresh_token") or [""])[0]
        return secrets.compare_digest(basic, expected) and secrets.compare_digest(
            token, self._secret
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if self.path != "/token" or not broker._is_authorized(self.headers, form):
                    self._reply(401, {"error": "invalid_client"})
                    return
                try:
                    token, seconds = broker._get_token()
                except Exception as err:  # the CLI reports it as its auth error
                    reason = " ".join(str(err).split())[:300]
                    self._reply(503, {"error": "temporarily_unavailable",
                                      "error_description": reason})  # fmt: skip
                    return
                self._reply(200, {"access_token": token, "expires_in": seconds,
                                  "token_type": "Bearer"})  # fmt: skip

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass  # requests carry secrets; never log them

        return Handler
