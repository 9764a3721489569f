"""The CLI reaches a private Cloud Run job-runner with a person's, a key's or the metadata server's
credentials; anything else is a one-line error naming the options (exit 2).

Fakes sit at the Google HTTP boundary (tests/google_fakes.py). User credentials cannot mint ID
tokens for an audience: googleapis/google-cloud-python#15131.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from google.auth import jwt

from dayflow.errors import UserError
from dayflow.runner_auth import fetch_job_runner_id_token
from dayflow.runner_client import IdTokenAuth, JobRunnerClient
from tests.google_fakes import USER_ACCESS_TOKEN, FakeGoogle, user_credentials

URL = "https://dayflow-job-runner-abc123-lz.a.run.app"
OPERATOR_SA = "dayflow-operator@acme-shop-dev.iam.gserviceaccount.com"


@pytest.fixture(autouse=True)
def no_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


class RecordingServer:
    """A local HTTP server that answers `{}` and records each request's Authorization header."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        recorded = self.authorizations

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorded.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_person_impersonating_the_operator_account_gets_its_token(
    recording_server: RecordingServer,
) -> None:
    google = FakeGoogle(token_creator_on={OPERATOR_SA})
    client = JobRunnerClient.for_cloud_run(
        recording_server.url + "/",
        impersonate_service_account=OPERATOR_SA,
        request=google,
        source_credentials=user_credentials(),
    )
    try:
        client.get_stats()
    finally:
        client.close()
    [authorization] = recording_server.authorizations
    claims = jwt.decode((authorization or "").removeprefix("Bearer "), verify=False)
    # The audience is the service's URL; the email is what the job-runner's caller check reads.
    assert (claims["aud"], claims["email"]) == (recording_server.url, OPERATOR_SA)
    [(method, url, headers)] = [c for c in google.calls if "iamcredentials" in c[1]]
    assert (method, headers["Authorization"]) == ("POST", f"Bearer {USER_ACCESS_TOKEN}")
    assert url.endswith(f"/serviceAccounts/{OPERATOR_SA}:generateIdToken")


def test_a_token_near_its_expiry_is_replaced_before_the_next_request() -> None:
    """ID tokens live an hour; a backfill's progress may be polled for longer."""
    key = FakeGoogle().key
    now = [1_000_000.0]
    auth = IdTokenAuth(lambda: key.sign(aud=URL, exp=int(now[0]) + 3600), clock=lambda: now[0])
    first = auth.get_token()
    now[0] += 3000  # ten minutes left: still used
    assert auth.get_token() == first and auth.fetches == 1
    now[0] += 400  # under five minutes left: replaced
    assert auth.get_token() != first and auth.fetches == 2


def test_impersonation_without_token_creator_names_the_missing_role() -> None:
    with pytest.raises(UserError, match=re.escape("roles/iam.serviceAccountTokenCreator")) as err:
        fetch_job_runner_id_token(
            URL,
            impersonate_service_account=OPERATOR_SA,
            request=FakeGoogle(),
            source_credentials=user_credentials(),
        )
    assert "\n" not in str(err.value) and "403" in str(err.value)


def test_the_metadata_server_mints_the_token_on_gcp() -> None:
    google = FakeGoogle(metadata_account="runner@acme-shop-dev.iam.gserviceaccount.com")
    token = fetch_job_runner_id_token(URL, request=google)
    assert jwt.decode(token, verify=False)["aud"] == URL


def test_a_service_account_key_file_mints_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    google = FakeGoogle()
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-shop-dev", "private_key_id": "k1",
        "private_key": google.key.pem, "client_email": "ci@acme-shop-dev.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
    }))  # fmt: skip
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    token = fetch_job_runner_id_token(URL, request=google)
    claims = jwt.decode(token, verify=False)
    assert (claims["aud"], claims["email"]) == (URL, "ci@acme-shop-dev.iam.gserviceaccount.com")


def test_user_credentials_alone_get_one_line_naming_the_options() -> None:
    with pytest.raises(UserError) as err:
        fetch_job_runner_id_token(URL, request=FakeGoogle())
    message = str(err.value)
    assert "\n" not in message
    for option in (
        "--impersonate-service-account",
        "DAYFLOW_IMPERSONATE_SERVICE_ACCOUNT",
        "impersonate_service_account in dayflow.yaml",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "metadata server",
    ):
        assert option in message


@pytest.fixture
def not_a_metadata_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering 404 without Metadata-Flavor: no metadata server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cli_exits_2_with_one_line_when_no_credentials_can_mint_a_token(
    tmp_path: Path, not_a_metadata_server: str
) -> None:
    """The real CLI, in a process with no Google credentials and no metadata server."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": ":".join(sys.path),
        "DAYFLOW_JOB_RUNNER_URL": URL,
        "DAYFLOW_SPEC": str(Path(__file__).resolve().parent / "project" / "dayflow.yaml"),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        # Where google-auth looks for a metadata server.
        "GCE_METADATA_HOST": not_a_metadata_server,
        "GCE_METADATA_IP": not_a_metadata_server,
    }
    result = subprocess.run(
        [sys.executable, "-c", "from dayflow.cli import main; main()",
         "status", "shop_daily", "--start", "2024-01-01", "--end", "2024-01-01", "--env", "dev"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot get an ID token"), lines
    assert "--impersonate-service-account" in lines[0]
