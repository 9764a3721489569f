"""HTTP client of the job-runner, as the CLI uses it. In GCP it sends an OIDC ID token."""

from __future__ import annotations

from typing import Any

import httpx

from dayflow.errors import DayflowError, NotFoundError, UserError


class JobRunnerClient:
    def __init__(self, base_url: str, id_token: str | None = None, timeout: float = 3600) -> None:
        headers = {"Authorization": f"Bearer {id_token}"} if id_token else {}
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
        body: dict[str, Any] = {"pipeline": pipeline, "job": job, "partition_key": partition_key}
        if attempt is not None:
            body["attempt"] = attempt
        return self._call("POST", "/runs", json=body)

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
        """In-flight counters; with `reset`, start their maximums over (POST /stats/reset)."""
        if reset:
            return self._call("POST", "/stats/reset")
        return self._call("GET", "/stats")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise DayflowError(
                f"job-runner at {self.base_url} is unreachable ({err.__class__.__name__}); "
                "is the local stack up? (dayflow local up)"
            ) from err
        if response.is_success:
            return response.json()  # type: ignore[no-any-return]
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code == 404:
            raise NotFoundError(str(detail))
        if 400 <= response.status_code < 500:
            raise UserError(str(detail))
        raise DayflowError(f"job-runner answered {response.status_code}: {detail}")
