"""The GCP boundary of `http` jobs: POST a JSON body to one of the domain's services.

In GCP every call carries an OIDC ID token whose audience is the service's URL, minted for the
job-runner's own service account by the metadata server; Cloud Run checks it against
`roles/run.invoker` on the service
(https://cloud.google.com/run/docs/authenticating/service-to-service). Locally the services run
on 127.0.0.1 without a token.

`ServiceCaller` is what `job_runner.domain.http_jobs` needs; `HttpxServiceCaller` is the real one.
Errors before a status code exists (no connection, a timeout, no token) are `ServiceCallError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# How long a connection may take to open (a cold Cloud Run instance accepts the connection
# before it starts the container, so this stays short even when a request takes minutes).
CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ServiceResponse:
    """What the service answered: its status code and body text."""

    status_code: int
    text: str


class ServiceCallError(Exception):
    """No answer: the connection failed, the call timed out, or no ID token could be minted."""

    def __init__(self, message: str, *, transient: bool, timed_out: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.timed_out = timed_out


class ServiceCaller(Protocol):
    def post(
        self, url: str, body: dict[str, Any], *, timeout_seconds: float, audience: str | None
    ) -> ServiceResponse:
        """POST `body` as JSON to `url`; with `audience`, carry an ID token for it."""
        ...


def fetch_id_token(audience: str) -> str:
    """An ID token for `audience` from the runtime's credentials (Cloud Run: the metadata
    server, as the service's own account)."""
    import google.auth.transport.requests
    import google.oauth2.id_token

    token: str = google.oauth2.id_token.fetch_id_token(  # type: ignore[no-untyped-call]
        google.auth.transport.requests.Request(), audience
    )
    return token


class HttpxServiceCaller:
    """Calls services with httpx (imported on first use), one short-lived client per call."""

    def __init__(self, get_id_token: Callable[[str], str] = fetch_id_token) -> None:
        self.get_id_token = get_id_token

    def post(
        self, url: str, body: dict[str, Any], *, timeout_seconds: float, audience: str | None
    ) -> ServiceResponse:
        import httpx

        headers = {"User-Agent": "dayflow-job-runner"}
        if audience is not None:
            headers["Authorization"] = f"Bearer {self._get_token(audience)}"
        timeout = httpx.Timeout(
            timeout_seconds, connect=min(CONNECT_TIMEOUT_SECONDS, timeout_seconds)
        )
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                response = client.post(url, json=body, headers=headers)
        except httpx.TimeoutException as err:
            raise ServiceCallError(
                f"no answer within {round(timeout_seconds, 1):g} s ({type(err).__name__})",
                transient=True,
                timed_out=True,
            ) from err
        except httpx.HTTPError as err:  # refused, reset, DNS: the service may be (re)starting
            raise ServiceCallError(f"{type(err).__name__}: {err}", transient=True) from err
        return ServiceResponse(response.status_code, response.text)

    def _get_token(self, audience: str) -> str:
        import google.auth.exceptions

        try:
            return self.get_id_token(audience)
        except google.auth.exceptions.TransportError as err:  # the metadata server did not answer
            raise ServiceCallError(f"no ID token for {audience}: {err}", transient=True) from err
        except google.auth.exceptions.GoogleAuthError as err:  # no credentials that mint one
            raise ServiceCallError(
                f"no ID token for {audience}: {err} (expected the job-runner to run as a "
                "service account, as on Cloud Run)",
                transient=False,
            ) from err
