"""`dayflow ui`'s proxy (dayflow.ui_proxy) in front of the real job-runner with caller checks on,
as in GCP. The ID token comes from dayflow.runner_auth impersonating the operator account with a
person's credentials; Google (IAM Credentials, certs) is a fake at the network boundary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from dayflow.runner_auth import fetch_job_runner_id_token
from dayflow.runner_client import IdTokenAuth
from dayflow.ui_proxy import UiProxy
from job_runner.api.callers import CachingCertsRequest
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server
from tests.google_fakes import FakeGoogle, user_credentials

OPERATOR = "dayflow-operator@acme-dev.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def google() -> FakeGoogle:
    return FakeGoogle(token_creator_on={OPERATOR})


@pytest.fixture(scope="module")
def job_runner(tmp_path_factory: pytest.TempPathFactory, google: FakeGoogle) -> Iterator[str]:
    spec_path = tmp_path_factory.mktemp("ui_proxy") / "dayflow.yaml"
    job = {"kind": "bigquery_sql", "sql": "a.sql",
           "destination": {"dataset": "d", "table": "t", "partition_field": "day"}}  # fmt: skip
    spec_path.write_text(yaml.safe_dump({
        "version": 1, "name": "uiproxy",
        "environments": {"local": {"gcp_project": "local"},
                         "dev": {"gcp_project": "acme-dev", "region": "europe-north1"}},
        "pipelines": {"daily": {"granularity": "day", "timezone": "UTC", "schedule": "0 2 * * *",
                                "start": "2024-03-01", "jobs": {"a": job}}},
    }))  # fmt: skip
    (spec_path.parent / "a.sql").write_text("SELECT @partition_date AS day\n")
    settings = JobRunnerSettings(
        env="dev",
        spec_path=Path(spec_path),
        bigquery_endpoint="http://127.0.0.1:9",  # never reached by these requests
        workflows_endpoint="127.0.0.1:9",
        check_callers=True,
        operator_members=[f"serviceAccount:{OPERATOR}"],
    )
    app = create_app(settings)
    app.state.google_request = CachingCertsRequest(google)
    with Server(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def proxy(job_runner: str, google: FakeGoogle) -> Iterator[UiProxy]:
    def fetch() -> str:
        return fetch_job_runner_id_token(
            job_runner, impersonate_service_account=OPERATOR, request=google,  # type: ignore[arg-type]
            source_credentials=user_credentials(),
        )  # fmt: skip

    with httpx.Client(auth=IdTokenAuth(fetch), timeout=60) as http, UiProxy(job_runner, http) as p:
        yield p


def test_the_page_is_reached_through_the_proxy_with_the_callers_token(
    proxy: UiProxy, job_runner: str
) -> None:
    assert httpx.get(f"{job_runner}/ui/static/ui.css").status_code == 403  # no token: refused

    page = httpx.get(f"http://127.0.0.1:{proxy.port}/ui/static/ui.css")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/css")
    assert ".s-failed" in page.text


def test_a_post_from_the_page_reaches_the_job_runner_and_one_from_another_site_does_not(
    proxy: UiProxy,
) -> None:
    base = f"http://127.0.0.1:{proxy.port}"
    body = {"pipeline": "no_such_pipeline", "start": "2024-03-01", "end": "2024-03-01"}
    page = {"X-Dayflow-UI": "start-backfill"}

    from_page = httpx.post(f"{base}/ui/backfills", json=body, headers={**page, "Origin": base})
    other_site = httpx.post(
        f"{base}/ui/backfills", json=body, headers={**page, "Origin": "https://evil.example"}
    )

    # Past the proxy, the job-runner's origin, header and caller checks: the pipeline is unknown.
    assert from_page.status_code == 404, from_page.text
    assert "no_such_pipeline" in from_page.text
    assert other_site.status_code == 403
    assert "origin 'https://evil.example' may not post" in other_site.text


def test_only_the_status_page_is_proxied_and_only_to_its_own_host(proxy: UiProxy) -> None:
    base = f"http://127.0.0.1:{proxy.port}"
    api = httpx.post(f"{base}/backfills", json={})
    rebound = httpx.get(f"{base}/ui", headers={"Host": f"evil.example:{proxy.port}"})

    assert api.status_code == 404
    assert "/backfills is not part of the status page" in api.text
    assert rebound.status_code == 403


def run_dayflow_ui(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`dayflow ui ARGS` in a process of its own, with only the given DAYFLOW_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DAYFLOW_")}
    return subprocess.run(
        [sys.executable, "-c", "from dayflow.cli import main; main()", "ui", *args],
        env={**clean, **env, "PYTHONPATH": ":".join(sys.path), "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip


def test_dayflow_ui_locally_prints_the_pages_url(tmp_path: Path) -> None:
    url = "http://127.0.0.1:18080"
    result = run_dayflow_ui(tmp_path, "--no-browser", DAYFLOW_JOB_RUNNER_URL=url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"status page: {url}/ui"


def test_dayflow_ui_without_a_job_runner_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_dayflow_ui(tmp_path, "--env", "dev", "--no-browser")

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: no job-runner URL for env 'dev' (expected DAYFLOW_JOB_RUNNER_URL, e.g. the Cloud "
        "Run URL from `pulumi stack output job_runner_url`)"
    ]
