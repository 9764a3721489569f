"""HTTP client of the job-runner, as the CLI uses it. In GCP it sends an OIDC ID token."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from dayflow.errors import DayflowError, NotFoundError, UserError


class JobRunnerClient:
    def __init__(
        self,
        base_url: str,
        id_token: str | None = None,
        timeout: float = 300,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Authorization": f"Bearer {id_token}"} if id_token else {}
        self._sleep = sleep
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    @classmethod
    def for_cloud_run(cls, base_url: str) -> JobRunnerClient:
        """A client for a private Cloud Run service: the audience of the ID token is its URL."""
        import google.auth.transport.requests
        import google.oauth2.id_token

        token = google.oauth2.id_token.fetch_id_token(  # type: ignore[no-untyped-call]
            google.auth.transport.requests.Request(), base_url
        )
        return cls(base_url, token)

    def close(self) -> None:
        self._http.close()

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
        return self._call("GET", "/stats", params={"reset": str(reset).lower()})

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
        if 400 <= response.status_code < 500:
            raise UserError(str(detail))
        raise DayflowError(f"job-runner answered {response.status_code}: {detail}")
