"""HTTP client of the job-runner, as the CLI uses it. In GCP it sends an OIDC ID token."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any

import httpx

from dayflow.errors import DayflowError, NotFoundError, UpstreamNotReadyError, UserError

# Fetch a new ID token this many seconds before the current one expires (they live an hour).
_REFRESH_MARGIN = 300.0


def _get_expiry(token: str) -> float:
    """The `exp` claim of a JWT (not verified: the server verifies it); 0 if unreadable."""
    try:
        payload = token.split(".")[1]
        return float(
            json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
        )
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


class IdTokenAuth(httpx.Auth):
    """Sends `Authorization: Bearer <ID token>`, fetching a new token as the old one nears expiry.

    A backfill's progress can be polled for longer than a token lives.
    """

    def __init__(
        self,
        fetch: Callable[[], str],
        margin: float = _REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token = fetch()
        self.fetches = 1

    def get_token(self) -> str:
        with self._lock:
            if _get_expiry(self._token) - self._clock() < self._margin:
                self._token = self._fetch()
                self.fetches += 1
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self.get_token()}"
        yield request


class JobRunnerClient:
    def __init__(
        self,
        base_url: str,
        id_token: str | None = None,
        timeout: float = 300,
        auth: httpx.Auth | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Authorization": f"Bearer {id_token}"} if id_token else {}
        self._sleep = sleep
        self.base_url = base_url.rstrip("/")
        # One trace per client (one CLI command): every call sends it in `traceparent`, so the
        # job-runner's log lines of the whole command share it (dayflow.logs), and an error
        # names it. Flags 00: not sampled; Cloud Trace records nothing, logs still carry the id.
        self.trace_id = secrets.token_hex(16)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            auth=auth,
            event_hooks={"request": [self._add_traceparent]},
        )

    def _add_traceparent(self, request: httpx.Request) -> None:
        request.headers["traceparent"] = f"00-{self.trace_id}-{secrets.token_hex(8)}-00"

    @classmethod
    def for_cloud_run(
        cls,
        base_url: str,
        impersonate_service_account: str | None = None,
        request: Any = None,
        source_credentials: Any = None,
    ) -> JobRunnerClient:
        """A client for a private Cloud Run service: the audience of the ID token is its URL.

        The token comes from impersonating `impersonate_service_account` if given, else from a
        service-account key file or the metadata server (see dayflow.runner_auth); `request`
        and `source_credentials` are the Google transport and credentials (tests pass fakes).
        """
        from dayflow.runner_auth import fetch_job_runner_id_token

        def fetch() -> str:
            return fetch_job_runner_id_token(
                base_url.rstrip("/"),
                impersonate_service_account=impersonate_service_account,
                request=request,
                source_credentials=source_credentials,
            )

        return cls(base_url, auth=IdTokenAuth(fetch))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobRunnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_plan(
        self, pipeline: str, start: str, end: str, order: str = "asc", only: str = "all"
    ) -> dict[str, Any]:
        params = {"start": start, "end": end, "order": order, "only": only}
        return self._call("GET", f"/pipelines/{pipeline}/plan", params=params)

    def run(
        self, pipeline: str, job: str, partition_key: str, attempt: int | None = None
    ) -> dict[str, Any]:
        """Start a run and wait for its outcome: POST /runs, then, while the answer is 202
        (running), GET /runs/{run_id} after the suggested `retry_after` seconds."""
        body: dict[str, Any] = {
            "pipeline": pipeline,
            "job": job,
            "partition_key": partition_key,
            # Idempotency key: were this request retried, it would attach to the same attempt.
            "request_key": f"cli-{uuid.uuid4().hex}",
        }
        if attempt is not None:
            body["attempt"] = attempt
        outcome, running = self._call_status("POST", "/runs", json=body)
        while running:
            self._sleep(float(outcome.get("retry_after") or 5))
            outcome, running = self._call_status("GET", f"/runs/{outcome['run_id']}")
        return outcome

    def get_status(self, pipeline: str, start: str, end: str) -> dict[str, Any]:
        return self._call("GET", "/runs", params={"pipeline": pipeline, "start": start, "end": end})

    def get_freshness(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        params = {"pipeline": pipeline} if pipeline else {}
        pipelines: list[dict[str, Any]] = self._call("GET", "/freshness", params=params)[
            "pipelines"
        ]
        return pipelines

    def get_checksums(self, pipeline: str, start: str, end: str) -> dict[str, Any]:
        params = {"start": start, "end": end}
        return self._call("GET", f"/pipelines/{pipeline}/checksums", params=params)

    def create_backfill(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/backfills", json=body)

    def get_backfill(self, backfill_id: str) -> dict[str, Any] | None:
        """Ledger progress of a backfill, or None before its first run is recorded."""
        try:
            return self._call("GET", f"/backfills/{backfill_id}")
        except NotFoundError:
            return None

    def get_stats(self, reset: bool = False) -> dict[str, Any]:
        """In-flight counters; with `reset`, start their maximums over (POST /stats/reset)."""
        if reset:
            return self._call("POST", "/stats/reset")
        return self._call("GET", "/stats")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._call_status(method, path, **kwargs)[0]

    def _call_status(self, method: str, path: str, **kwargs: Any) -> tuple[dict[str, Any], bool]:
        """The JSON body of a successful answer, and whether it was 202 (still running)."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise DayflowError(
                f"job-runner at {self.base_url} is unreachable ({err.__class__.__name__}); "
                "is the local stack up? (dayflow local up)"
            ) from err
        if response.is_success:
            return response.json(), response.status_code == 202
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code == 404:
            raise NotFoundError(str(detail))
        if response.status_code == 409 and _is_waiting(response):
            body = response.json()
            raise UpstreamNotReadyError(
                str(detail),
                run_id=str(body.get("run_id")),
                missing=list(body.get("missing") or []),
                retry_after=body.get("retry_after"),
            )
        if 400 <= response.status_code < 500:
            raise UserError(str(detail))
        raise DayflowError(
            f"job-runner answered {response.status_code}: {detail} "
            f"(its logs: trace {self.trace_id})"
        )


def _is_waiting(response: httpx.Response) -> bool:
    """A 409 `waiting` answer: the run waits for upstream partitions (not a failure)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error_kind") == "waiting"
