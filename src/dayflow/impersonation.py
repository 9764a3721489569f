"""Access-token credentials of a service account, impersonated from the caller's own.

Two callers: in GCP, dbt and Dataform jobs act as their own service accounts (infra's
`JOB_RUNNER_DBT_SERVICE_ACCOUNT`, `JOB_RUNNER_DATAFORM_SERVICE_ACCOUNT`), not as the job-runner,
which holds `roles/iam.serviceAccountTokenCreator` on each; and the CLI, where a person acts as
the operator service account (Token Creator granted by infra) to start Workflows executions.
Tokens are minted through the IAM Credentials API. Locally nobody is impersonated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dayflow.errors import UserError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Seconds an impersonated access token lives (the IAM Credentials API allows up to 3600).
_LIFETIME = 3600


def get_impersonated_credentials(
    service_account: str, source_credentials: Credentials | None = None
) -> Credentials:
    """Access-token credentials of `service_account`, minted from `source_credentials`.

    Args:
        service_account: the email of the account to act as.
        source_credentials: who impersonates; default: application default credentials
            (the job-runner's own account on Cloud Run, a person's on a laptop).

    Raises:
        UserError: there are no application default credentials to impersonate from.
    """
    import google.auth
    from google.auth import exceptions, impersonated_credentials

    if source_credentials is None:
        try:
            source_credentials, _ = google.auth.default(scopes=_SCOPES)
        except exceptions.DefaultCredentialsError:
            raise UserError(
                f"cannot impersonate {service_account}: no Google credentials of your own "
                "(expected `gcloud auth application-default login`, or the metadata server)"
            ) from None
    credentials: Credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source_credentials,
        target_principal=service_account,
        target_scopes=_SCOPES,
        lifetime=_LIFETIME,
    )
    return credentials
