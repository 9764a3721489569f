"""Who may see the status page and who may start backfills from it, with caller checks on (as
in GCP): tokens from a fake Google at the network boundary, as tests/job_runner/test_callers.py.
None of these requests reaches BigQuery or Workflows (refused, or static)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import yaml

from job_runner.api.callers import CachingCertsRequest
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server
from tests.google_fakes import FakeGoogle

URL = "https://dayflow-job-runner-abc123-lz.a.run.app"
WORKFLOWS = "dayflow-workflows@acme-dev.iam.gserviceaccount.com"
OPERATOR = "ada@acme.example"
BODY = {"pipeline": "daily", "start": "2024-03-01", "end": "2024-03-01"}


@pytest.fixture(scope="module")
def google() -> FakeGoogle:
    return FakeGoogle()


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory, google: FakeGoogle) -> Iterator[httpx.Client]:
    spec_path = tmp_path_factory.mktemp("ui_access") / "dayflow.yaml"
    job = {"kind": "bigquery_sql", "sql": "a.sql",
           "destination": {"dataset": "d", "table": "t", "partition_field": "day"}}  # fmt: skip
    spec_path.write_text(yaml.safe_dump({
        "version": 1, "name": "uiaccess",
        "environments": {"local": {"gcp_project": "local"},
                         "dev": {"gcp_project": "acme-dev", "region": "europe-north1"}},
        "pipelines": {"daily": {"granularity": "day", "timezone": "UTC", "schedule": "0 2 * * *",
                                "start": "2024-03-01", "jobs": {"a": job}}},
    }))  # fmt: skip
    (spec_path.parent / "a.sql").write_text("SELECT @partition_date AS day\n")
    settings = JobRunnerSettings(
        env="dev",
        spec_path=spec_path,
        bigquery_endpoint="http://127.0.0.1:9",  # never reached
        workflows_endpoint="127.0.0.1:9",
        check_callers=True,
        workflows_service_account=WORKFLOWS,
        operator_members=[f"user:{OPERATOR}"],
    )
    app = create_app(settings)
    app.state.google_request = CachingCertsRequest(google)
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def bearer(google: FakeGoogle, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {google.key.sign(aud=URL, email=email, sub='1')}"}


def test_the_page_is_for_operators_only(http: httpx.Client, google: FakeGoogle) -> None:
    assert http.get("/ui/static/ui.css", headers=bearer(google, OPERATOR)).status_code == 200
    stranger = http.get("/ui/static/ui.css", headers=bearer(google, "eve@evil.example"))
    assert stranger.status_code == 403
    assert "may not call GET /ui/static/{name}" in stranger.json()["detail"]
    assert http.get("/ui").status_code == 403  # no token at all


def test_only_callers_allowed_on_post_backfills_may_start_one_from_the_page(
    http: httpx.Client, google: FakeGoogle
) -> None:
    page = {"X-Dayflow-UI": "start-backfill"}
    stranger = http.post("/ui/backfills", json=BODY,
                         headers={**page, **bearer(google, "eve@evil.example")})  # fmt: skip
    assert stranger.status_code == 403
    # An operator's request without the page's header is refused before anything is planned.
    no_header = http.post("/ui/backfills", json=BODY, headers=bearer(google, OPERATOR))
    assert no_header.status_code == 403, no_header.text
    assert "x-dayflow-ui" in no_header.json()["detail"]
