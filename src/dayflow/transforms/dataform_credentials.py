"""The `.df-credentials.json` a Dataform CLI run reads, impersonating a service account if asked.

What the CLI supports (checked in @dataform/cli 3.0.69's bundle and the google-auth-library
10.9.1 it loads): the file holds `projectId`, `location` and an optional `credentials` string, a
credentials JSON that google-auth-library's `GoogleAuth.fromJSON` loads. Without `credentials` the
CLI uses application default credentials. `fromJSON` accepts the type
`impersonated_service_account` (`service_account_impersonation_url` plus `source_credentials`),
but the source must itself be JSON: a user's refresh token (`authorized_user`) or a service
account key. The metadata server, the only source on Cloud Run, cannot be written there. So the
CLI can impersonate only where application default credentials are such a file (a laptop after
`gcloud auth application-default login`); on Cloud Run a Dataform job that must act as its own
account runs through the managed Dataform API (`managed` in the spec), which takes the account
as `InvocationConfig.service_account`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dayflow.errors import TransformError

_IAM_CREDENTIALS = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts"
_FILE_SOURCES = ("authorized_user", "service_account")


def find_adc_file() -> Path | None:
    """The application default credentials file: $GOOGLE_APPLICATION_CREDENTIALS or gcloud's."""
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        return Path(explicit)
    from google.auth import _cloud_sdk

    path = Path(_cloud_sdk.get_application_default_credentials_path())  # type: ignore[no-untyped-call]
    return path if path.is_file() else None


def build_cli_credentials(
    *,
    project: str,
    location: str,
    service_account: str | None,
    adc_file: Path | None,
    project_dir: str = ".",
) -> dict[str, Any]:
    """The contents of `.df-credentials.json` for one run.

    Args:
        project: the GCP project (`local` for the emulator).
        location: the BigQuery location of the run's jobs.
        service_account: the account to act as; None runs as the caller's own credentials.
        adc_file: the caller's application default credentials file (see `find_adc_file`).
        project_dir: the job's Dataform project, named in the error.

    Raises:
        TransformError: an account is asked for, but the caller's credentials are not a file the
            CLI can impersonate from (e.g. the metadata server on Cloud Run).
    """
    contents: dict[str, Any] = {"projectId": project, "location": location}
    if service_account is None:
        return contents
    source: dict[str, Any] | None = None
    if adc_file is not None and adc_file.is_file():
        try:
            source = json.loads(adc_file.read_text())
        except (OSError, ValueError):
            source = None
    if not isinstance(source, dict) or source.get("type") not in _FILE_SOURCES:
        raise TransformError(
            f"Dataform project {project_dir!r} must run as {service_account}, but the Dataform CLI "
            "can impersonate only from a user or service-account key credentials file, not from "
            "the metadata server (expected `managed` on the job, which runs it through the "
            "Dataform API as that account, or no JOB_RUNNER_DATAFORM_SERVICE_ACCOUNT)"
        )
    contents["credentials"] = json.dumps(
        {
            "type": "impersonated_service_account",
            "service_account_impersonation_url": (
                f"{_IAM_CREDENTIALS}/{service_account}:generateAccessToken"
            ),
            "source_credentials": source,
        }
    )
    return contents
