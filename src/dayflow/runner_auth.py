"""ID tokens for a private Cloud Run job-runner, from whatever credentials the caller has.

Cloud Run admits a request only with a Google-signed ID token whose audience is the service's
URL. Three sources can mint one:

- impersonation of a service account (`--impersonate-service-account`,
  $DAYFLOW_IMPERSONATE_SERVICE_ACCOUNT, or the environment's `impersonate_service_account` in the
  spec): the caller's own credentials, a person's included, ask the IAM Credentials API's
  `generateIdToken` for a token of that account; the caller needs
  `roles/iam.serviceAccountTokenCreator` on it, which infra grants operators on one account;
- a service-account key file named by $GOOGLE_APPLICATION_CREDENTIALS;
- the metadata server (Cloud Run, GCE, Cloud Build).

User credentials from `gcloud auth application-default login` cannot mint an ID token for an
audience (googleapis/google-cloud-python#15131), so without impersonation a person gets a
one-line error naming these options.

The impersonated token request is made here, through the `google.auth.transport.Request` the
caller passes, rather than by `google.auth.impersonated_credentials.IDTokenCredentials.refresh`:
that method posts through a `requests` session of its own, which no transport can replace, so
the token boundary could not be faked in tests. The request is the one the library makes
(https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateIdToken).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dayflow.errors import UserError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.auth.transport import Request

_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
GENERATE_ID_TOKEN_URL = (
    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:generateIdToken"  # noqa: S105
)
_OPTIONS = (
    "--impersonate-service-account EMAIL (or DAYFLOW_IMPERSONATE_SERVICE_ACCOUNT, or the "
    "environment's impersonate_service_account in dayflow.yaml), a service-account key file in "
    "GOOGLE_APPLICATION_CREDENTIALS, or the metadata server (Cloud Run, GCE)"
)


def fetch_job_runner_id_token(
    audience: str,
    *,
    impersonate_service_account: str | None = None,
    request: Request | None = None,
    source_credentials: Credentials | None = None,
) -> str:
    """An ID token for `audience` (the job-runner's URL), carrying the caller's email.

    Args:
        audience: the Cloud Run service URL.
        impersonate_service_account: mint the token as this account.
        request: the HTTP transport to Google (default: a `requests` transport).
        source_credentials: who impersonates (default: application default credentials).

    Raises:
        UserError: no source of an ID token, or the impersonation was refused; the message
            names the options.
    """
    from google.auth import exceptions

    if request is None:
        import google.auth.transport.requests

        request = google.auth.transport.requests.Request()
    if impersonate_service_account:
        return _impersonate(audience, impersonate_service_account, request, source_credentials)
    import google.oauth2.id_token

    try:
        token: str = google.oauth2.id_token.fetch_id_token(request, audience)  # type: ignore[no-untyped-call]
    except exceptions.DefaultCredentialsError:
        raise UserError(
            f"cannot get an ID token for the job-runner at {audience}: these credentials "
            f"cannot mint one (user credentials never can); use {_OPTIONS}"
        ) from None
    except exceptions.GoogleAuthError as err:
        raise UserError(f"cannot get an ID token for {audience}: {_one_line(err)}") from None
    return token


def _impersonate(audience: str, account: str, request: Request, source: Credentials | None) -> str:
    import google.auth
    from google.auth import exceptions

    try:
        if source is None:
            source, _ = google.auth.default(scopes=_SCOPES)
        source.refresh(request)  # type: ignore[no-untyped-call]
    except exceptions.GoogleAuthError as err:
        raise UserError(
            f"cannot impersonate {account}: no usable Google credentials of your own "
            f"({_one_line(err)}); run `gcloud auth application-default login`"
        ) from None
    body = {"audience": audience, "includeEmail": True, "delegates": []}
    try:
        response = request(
            GENERATE_ID_TOKEN_URL.format(account),
            method="POST",
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {source.token}"},
        )
    except exceptions.TransportError as err:
        raise UserError(f"cannot impersonate {account}: {_one_line(err)}") from None
    data = response.data.decode() if isinstance(response.data, bytes) else str(response.data)
    if response.status != 200:
        raise UserError(
            f"cannot impersonate {account} (IAM answered {response.status}: {_message(data)}); "
            "you need roles/iam.serviceAccountTokenCreator on that account"
        )
    try:
        token = json.loads(data)["token"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"cannot impersonate {account}: IAM answered no token") from None
    return str(token)


def _message(data: str) -> str:
    try:
        return str(json.loads(data)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return _one_line(data)[:200]


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
