"""Streaming inserts (`tabledata.insertAll`) over plain HTTP: the function's BigQuery boundary.

Why not google-cloud-bigquery: importing it takes about 0.9 s on the project's machines, against
about 0.2 s for functions-framework itself, and the cold start is part of every scale-up. One
REST call needs only `http.client`, which functions-framework has already imported.

Outcomes, per row: stored; `RowRejected` (BigQuery refused that row: the message is
dead-lettered); or an exception for the whole request, raised to the caller so that Pub/Sub
redelivers: `WriteError(transient=True)` for 5xx, 429, timeouts and lost connections,
`WriteError(transient=False)` for 401/403/404 (an operator must act; nothing is dropped meanwhile).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ingestfn.errors import WriteError

DEFAULT_ENDPOINT = "https://bigquery.googleapis.com"
_METADATA_ACCESS_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
_TIMEOUT_SECONDS = 30.0
# A kept-alive connection the server has closed fails on first use: retry once on a new one
# (safe: the insertId makes a repeated insert a no-op).
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True, slots=True)
class RowRejected:
    """BigQuery refused this row for its content; the message belongs in the dead-letter table."""

    message: str


class RowInserter(Protocol):
    """Streams rows into one table. Returns one outcome per row: None (stored) or RowRejected.

    Raises `WriteError` when the request as a whole failed (nothing can be assumed stored).
    """

    def insert_rows(
        self, dataset: str, table: str, rows: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[RowRejected | None]: ...

    def close(self) -> None: ...


TokenSource = Callable[[], str]


class MetadataTokenSource:
    """Access tokens of the instance's service account from the metadata server, cached."""

    def __init__(self, url: str = _METADATA_ACCESS_URL) -> None:
        self._url = urllib.parse.urlsplit(url)
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0

    def __call__(self) -> str:
        with self._lock:
            # Refresh a minute early: a token must not expire between here and BigQuery.
            if time.monotonic() > self._expires_at - 60:
                self._token, lifetime = self._fetch()
                self._expires_at = time.monotonic() + lifetime
            return self._token

    def _fetch(self) -> tuple[str, float]:
        conn = http.client.HTTPConnection(self._url.netloc, timeout=5)
        try:
            conn.request("GET", self._url.path, headers={"Metadata-Flavor": "Google"})
            response = conn.getresponse()
            body = response.read()
        except OSError as err:
            raise WriteError(
                f"metadata server unreachable for a token ({err})", transient=True
            ) from err
        finally:
            conn.close()
        if response.status != 200:
            raise WriteError(
                f"metadata server answered {response.status} for a token", transient=True
            )
        token = json.loads(body)
        return str(token["access_token"]), float(token.get("expires_in", 300))


class RestInserter:
    """`RowInserter` over BigQuery's REST API, with a small pool of kept-alive connections."""

    def __init__(
        self,
        project: str,
        *,
        endpoint: str | None = None,
        token_source: TokenSource | None = None,
        timeout: float = _TIMEOUT_SECONDS,
    ) -> None:
        url = urllib.parse.urlsplit(endpoint or DEFAULT_ENDPOINT)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"BigQuery endpoint {endpoint!r} is not an http(s) URL")
        self._project = project
        self._scheme = url.scheme
        self._netloc = url.netloc
        self._prefix = url.path.rstrip("/")
        self._token_source = token_source
        self._timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def insert_rows(
        self, dataset: str, table: str, rows: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[RowRejected | None]:
        status, body = self._post(dataset, table, rows)
        if status == 200:
            return self._row_outcomes(len(rows), body)
        message = _error_message(status, body)
        if status in (400, 413):
            if len(rows) > 1:
                # One bad row fails the whole request: find it by sending the rows one by one.
                return [self.insert_rows(dataset, table, [row])[0] for row in rows]
            return [RowRejected(message)]
        transient = status == 429 or status >= 500
        raise WriteError(f"insertAll into {dataset}.{table} failed: {message}", transient=transient)

    def _row_outcomes(self, count: int, body: dict[str, Any]) -> list[RowRejected | None]:
        outcomes: list[RowRejected | None] = [None] * count
        for row_error in body.get("insertErrors") or []:
            errors = row_error.get("errors") or []
            reasons = {e.get("reason") for e in errors}
            text = "; ".join(
                f"{e.get('location') or 'row'}: {e.get('message') or e.get('reason')}"
                for e in errors
            )
            if reasons - {"invalid", "invalidQuery"}:
                # backendError, internalError, timeout, stopped: not the row's fault.
                raise WriteError(f"insertAll row error: {text}", transient=True)
            outcomes[int(row_error["index"])] = RowRejected(text)
        return outcomes

    def _post(
        self, dataset: str, table: str, rows: Sequence[tuple[str, dict[str, Any]]]
    ) -> tuple[int, dict[str, Any]]:
        path = (
            f"{self._prefix}/bigquery/v2/projects/{urllib.parse.quote(self._project)}"
            f"/datasets/{dataset}/tables/{table}/insertAll"
        )
        payload = json.dumps(
            {
                "skipInvalidRows": True,  # a bad row must not hold back the good ones
                "ignoreUnknownValues": False,
                "rows": [{"insertId": insert_id, "json": row} for insert_id, row in rows],
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self._token_source is not None:
            headers["Authorization"] = f"Bearer {self._token_source()}"
        for attempt in (1, 2):
            conn, reused = self._checkout()
            try:
                conn.request("POST", path, payload, headers)
                response = conn.getresponse()
                raw = response.read()
            except _STALE_CONNECTION as err:
                conn.close()
                if reused and attempt == 1:
                    continue
                raise WriteError(f"insertAll connection lost ({err!r})", transient=True) from err
            except OSError as err:  # refused, timed out, DNS: all clear by themselves
                conn.close()
                raise WriteError(f"insertAll failed to connect ({err!r})", transient=True) from err
            self._checkin(conn, response)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"error": {"message": raw[:200].decode("utf-8", "replace")}}
            return response.status, body if isinstance(body, dict) else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the idle connections (those in use close when returned)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._netloc, timeout=self._timeout), False
        return http.client.HTTPConnection(self._netloc, timeout=self._timeout), False

    def _checkin(
        self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        if response.will_close:
            conn.close()
            return
        with self._lock:
            self._idle.append(conn)


def _error_message(status: int, body: dict[str, Any]) -> str:
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return f"HTTP {status}: {message or 'no error message'}"
