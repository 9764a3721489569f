"""Caller checks: who may call which route, from the caller's Google ID token.

Cloud Run IAM admits any invoker to every route; this check narrows each route to the accounts
that call it (settings `scheduler_service_account`, `workflows_service_account`,
`operator_members`), all in one table, `ROUTE_CALLERS`. It is on in GCP
(`JOB_RUNNER_CHECK_CALLERS=true`) and off locally, which start-up logs.

Where the token is (https://cloud.google.com/run/docs/authenticating/service-to-service): Cloud
Run accepts the ID token in `Authorization: Bearer` or in `X-Serverless-Authorization: Bearer`
(that one wins when both are sent) and passes the headers on to the container. A token in
`Authorization` arrives with its signature, so it is verified here again with google-auth
(Google's certs, issuer, expiry). A token in `X-Serverless-Authorization` arrives with its
signature removed by Cloud Run, which verified it before forwarding; it cannot be verified again,
so only its claims are decoded, which is safe because nothing reaches the container without
passing Cloud Run (a forged header is what Cloud Run itself would have checked and refused). That
holds while the service keeps Cloud Run's invoker IAM check on (infra deploys it private). The
audience is Cloud Run's to check (it refuses tokens for another service).

Groups: a `group:` operator member cannot be checked from a token (ID tokens carry no group
memberships). When one is listed, operator routes accept any caller Cloud Run admitted (IAM
invoker is then the gate, as before), and each such admission is logged with the caller.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from job_runner.core.config import JobRunnerSettings, get_settings

_log = logging.getLogger(__name__)

OPEN, SCHEDULER, WORKFLOWS, OPERATORS = "anyone", "scheduler", "workflows", "operators"
# (method, route path pattern, who may call); the first match wins; `*` matches anything.
ROUTE_CALLERS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("GET", "/healthz", frozenset({OPEN})),
    # The status page (job_runner.ui) is for people; its POST starts a backfill, as /backfills.
    ("GET", "/ui*", frozenset({OPERATORS})),
    ("POST", "/ui/backfills", frozenset({OPERATORS, WORKFLOWS})),
    ("POST", "/triggers/*", frozenset({SCHEDULER})),
    ("POST", "/freshness/check", frozenset({SCHEDULER})),
    ("POST", "/runs", frozenset({WORKFLOWS})),
    ("*", "/runs/*", frozenset({WORKFLOWS})),  # one run's status, polled by the workflow
    # `dayflow run` reads a partition's plan before it runs its jobs, so operators too.
    ("GET", "/pipelines/*/plan", frozenset({WORKFLOWS, OPERATORS})),
    ("*", "/backfills", frozenset({OPERATORS, WORKFLOWS})),
    ("*", "/backfills/*", frozenset({OPERATORS, WORKFLOWS})),
)
# Every other route (status, checksums, stats) is read by operators through the CLI.
DEFAULT_CALLERS = frozenset({OPERATORS, WORKFLOWS})
_CERTS_TTL = 3600.0  # seconds; Google rotates its token certs over days


class CallerNotAllowedError(Exception):
    """The caller's token is missing, invalid, or names an account the route does not allow."""


def get_route_callers(method: str, path: str) -> frozenset[str]:
    """Who may call `method path` (the route's path template, e.g. /triggers/{pipeline})."""
    for rule_method, pattern, callers in ROUTE_CALLERS:
        if rule_method in ("*", method) and fnmatch.fnmatchcase(path, pattern):
            return callers
    return DEFAULT_CALLERS


def get_allowed_members(callers: frozenset[str], settings: JobRunnerSettings) -> list[str]:
    """The IAM members behind the caller roles of a route."""
    members: list[str] = []
    if SCHEDULER in callers and settings.scheduler_service_account:
        members.append(f"serviceAccount:{settings.scheduler_service_account}")
    if WORKFLOWS in callers and settings.workflows_service_account:
        members.append(f"serviceAccount:{settings.workflows_service_account}")
    if OPERATORS in callers:
        members += settings.operator_members
    return members


def is_member(email: str, members: list[str]) -> bool:
    member = (
        f"serviceAccount:{email}" if email.endswith(".gserviceaccount.com") else f"user:{email}"
    )
    domain = email.rpartition("@")[2]
    return member in members or f"domain:{domain}" in members


class CachingCertsRequest:
    """A google-auth transport that keeps Google's token certs for an hour.

    Verifying a token fetches the certs; without a cache every request would wait for them.
    """

    def __init__(self, request: Callable[..., Any] | None = None) -> None:
        if request is None:
            import google.auth.transport.requests

            request = google.auth.transport.requests.Request()
        self._request = request
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        if method != "GET":
            return self._request(url, method=method, **kwargs)
        with self._lock:
            hit = self._cache.get(url)
        if hit is not None and time.monotonic() - hit[0] < _CERTS_TTL:
            return hit[1]
        response = self._request(url, method=method, **kwargs)
        if response.status == 200:
            with self._lock:
                self._cache[url] = (time.monotonic(), response)
        return response


def _bearer(value: str, header: str) -> str:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CallerNotAllowedError(f"header {header} is not `Bearer <ID token>`")
    return token.strip()


def _decode_unsigned(token: str) -> dict[str, Any]:
    """The claims of a token whose signature Cloud Run removed (after verifying it)."""
    parts = token.split(".")
    if len(parts) < 2:
        raise CallerNotAllowedError("X-Serverless-Authorization holds no JWT")
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        raise CallerNotAllowedError("X-Serverless-Authorization holds no JWT") from None
    if not isinstance(claims, dict):
        raise CallerNotAllowedError("X-Serverless-Authorization holds no JWT")
    return claims


def get_caller_email(request: Request, google_request: Callable[..., Any]) -> str:
    """The verified email of the caller's ID token (see the module docstring for the headers)."""
    serverless = request.headers.get("x-serverless-authorization")
    authorization = request.headers.get("authorization")
    if serverless:
        claims = _decode_unsigned(_bearer(serverless, "X-Serverless-Authorization"))
    elif authorization:
        import google.oauth2.id_token
        from google.auth import exceptions

        token = _bearer(authorization, "Authorization")
        try:
            # A few seconds of clock skew: the token may be minted by a clock slightly ahead.
            claims = google.oauth2.id_token.verify_oauth2_token(  # type: ignore[no-untyped-call]
                token, google_request, clock_skew_in_seconds=10
            )
        except (ValueError, exceptions.GoogleAuthError) as err:
            raise CallerNotAllowedError(
                f"the caller's ID token is not valid ({' '.join(str(err).split())[:200]})"
            ) from None
    else:
        raise CallerNotAllowedError("the request carries no ID token")
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise CallerNotAllowedError(
            "the caller's ID token has no email claim (expected a token minted with the email "
            "included, e.g. an OIDC token of a service account)"
        )
    return email


def _get_settings(request: Request) -> JobRunnerSettings:
    settings: JobRunnerSettings | None = getattr(request.app.state, "settings", None)
    return settings or get_settings()


def check_caller(request: Request) -> None:
    """FastAPI dependency: refuse a caller the route does not allow (403)."""
    route = request.scope.get("route")
    _check(request, request.method, getattr(route, "path", request.url.path))


def is_caller_allowed(request: Request, method: str, path: str) -> bool:
    """Whether this request's caller may call `method path` (always, with checks off): the
    status page shows its actions only to callers allowed on the routes they call."""
    try:
        _check(request, method, path)
    except CallerNotAllowedError:
        return False
    return True


def _check(request: Request, method: str, path: str) -> None:
    settings = _get_settings(request)
    if not settings.check_callers:
        return
    callers = get_route_callers(method, path)
    if OPEN in callers:
        return
    state = request.app.state
    google_request = getattr(state, "google_request", None)
    if google_request is None:
        google_request = state.google_request = CachingCertsRequest()
    email = get_caller_email(request, google_request)
    members = get_allowed_members(callers, settings)
    if is_member(email, members):
        return
    if OPERATORS in callers and any(m.startswith("group:") for m in members):
        _log.warning(
            "caller %s admitted to %s %s: a group is among the operators, which a token cannot "
            "show; Cloud Run IAM is the gate",
            email,
            method,
            path,
        )
        return
    raise CallerNotAllowedError(
        f"caller {email} may not call {method} {path} "
        f"(allowed: {', '.join(members) or 'nobody: no account configured for it'})"
    )


async def _refused(_: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(err), "error_kind": "permanent"}, status_code=403)


def add_caller_checks(app: FastAPI) -> None:
    """Check the caller of every route included after this call, and answer refusals with 403."""
    app.router.dependencies.append(Depends(check_caller))
    app.add_exception_handler(CallerNotAllowedError, _refused)


def log_caller_checks(settings: JobRunnerSettings) -> None:
    """Say at start-up whether callers are checked, and against whom."""
    if not settings.check_callers:
        _log.warning(
            "caller checks are off (JOB_RUNNER_CHECK_CALLERS is false): any caller that reaches "
            "the job-runner may call every route; this is meant for local runs only"
        )
        return
    _log.info(
        "caller checks are on: scheduler=%s workflows=%s operators=%s",
        settings.scheduler_service_account,
        settings.workflows_service_account,
        settings.operator_members,
    )
    missing = [
        name
        for name in ("scheduler_service_account", "workflows_service_account")
        if not getattr(settings, name)
    ]
    if missing:
        _log.warning("caller checks: %s unset; its routes refuse every caller", missing)
