"""The `.df-credentials.json` a Dataform CLI run reads, acting as a service account if asked.

What the CLI supports (checked in @dataform/cli 3.0.69's bundle and the google-auth-library
10.9.1 it loads): the file holds `projectId`, `location` and an optional `credentials` string, a
credentials JSON that google-auth-library's `GoogleAuth.fromJSON` loads; without it the CLI uses
application default credentials. `fromJSON` knows the type `impersonated_service_account`, but
its `source_credentials` must themselves be JSON (a key or a user's refresh token): the
metadata server, the job-runner's only credentials on Cloud Run, cannot be named there. So an
impersonated run names an `external_account_authorized_user` whose token URL is a loopback
broker in the job-runner serving the impersonated account's access tokens (token_broker.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dayflow.transforms.token_broker import TokenBroker


def build_cli_credentials(
    *, project: str, location: str, broker: TokenBroker | None = None
) -> dict[str, str]:
    """The contents of `.df-credentials.json`: default credentials, or the broker's account."""
    contents = {"projectId": project, "location": location}
    if broker is not None:
        contents["credentials"] = json.dumps(broker.get_credentials_json())
    return contents
