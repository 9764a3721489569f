"""Caller checks per route, against the accounts in settings (issue 10 item 11).

Where the caller's ID token reaches the container, and whether its signature is kept, is from
https://cloud.google.com/run/docs/authenticating/service-to-service: `Authorization: Bearer`
arrives as sent (signature kept, verified again here against Google's certs, faked at that
boundary by tests/google_fakes.py), `X-Serverless-Authorization` arrives with its signature
removed by Cloud Run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from job_runner.api.callers import CachingCertsRequest
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import PROJECT, Server
from tests.google_fakes import FakeGoogle, SigningKey

ROOT = Path(__file__).resolve().parents[2]
URL = "https://dayflow-job-runner-abc123-lz.a.run.app"
SCHEDULER = "dayflow-scheduler@acme-shop-dev.iam.gserviceaccount.com"
WORKFLOWS = "dayflow-workflows@acme-shop-dev.iam.gserviceaccount.com"
OPERATOR = "dayflow-operator@acme-shop-dev.iam.gserviceaccount.com"
TRIGGER = "/triggers/no_such_pipeline"  # past the check, the app answers 404 before any GCP call
BACKFILL = {"pipeline": "no_such_pipeline", "start": "2024-01-01", "end": "2024-01-02"}


def settings(**fields: object) -> JobRunnerSettings:
    return JobRunnerSettings(
        env="dev",
        spec_path=PROJECT / "dayflow.yaml",
        # Local stand-ins that are never reached: a refused or 404 request makes no call.
        bigquery_endpoint="http://127.0.0.1:9",
        workflows_endpoint="127.0.0.1:9",
        **fields,  # type: ignore[arg-type]
    )


CHECKED = {
    "check_callers": True,
    "scheduler_service_account": SCHEDULER,
    "workflows_service_account": WORKFLOWS,
    "operator_members": [f"serviceAccount:{OPERATOR}", "user:ada@acme.example"],
}


@pytest.fixture
def google() -> FakeGoogle:
    return FakeGoogle()


def client_for(google: FakeGoogle, **fields: object) -> Iterator[httpx.Client]:
    """The real app under uvicorn on 127.0.0.1, verifying tokens against the fake's certs."""
    app = create_app(settings(**fields))
    app.state.google_request = CachingCertsRequest(google)
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def http(google: FakeGoogle) -> Iterator[httpx.Client]:
    yield from client_for(google, **CHECKED)


def bearer(google: FakeGoogle, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {google.key.sign(aud=URL, email=email, sub='1')}"}


def test_triggers_are_admitted_from_the_scheduler_account(
    http: httpx.Client, google: FakeGoogle
) -> None:
    assert http.post(TRIGGER, headers=bearer(google, SCHEDULER)).status_code == 404


def test_a_trigger_from_another_account_is_refused_naming_caller_and_allowed(
    http: httpx.Client, google: FakeGoogle
) -> None:
    response = http.post(TRIGGER, headers=bearer(google, WORKFLOWS))
    assert response.status_code == 403
    body = response.json()
    assert body["error_kind"] == "permanent"
    assert WORKFLOWS in body["detail"] and f"serviceAccount:{SCHEDULER}" in body["detail"]
    assert "POST /triggers/{pipeline}" in body["detail"]


def test_runs_are_only_for_the_workflows_account(http: httpx.Client, google: FakeGoogle) -> None:
    run = {"pipeline": "no_such_pipeline", "job": "j", "partition_key": "2024-01-01"}
    assert http.post("/runs", json=run, headers=bearer(google, OPERATOR)).status_code == 403
    assert http.post("/runs", json=run, headers=bearer(google, WORKFLOWS)).status_code == 404


def test_backfills_admit_operators_and_workflows_only(
    http: httpx.Client, google: FakeGoogle
) -> None:
    for email in (OPERATOR, "ada@acme.example", WORKFLOWS):
        response = http.post("/backfills", json=BACKFILL, headers=bearer(google, email))
        assert response.status_code != 403, (email, response.text)
    stranger = http.post("/backfills", json=BACKFILL, headers=bearer(google, "eve@evil.example"))
    assert stranger.status_code == 403
    assert "user:ada@acme.example" in stranger.json()["detail"]


def test_a_token_not_signed_by_google_is_refused(http: httpx.Client) -> None:
    forger = FakeGoogle(key=SigningKey.generate())  # same kid, another key
    response = http.post(TRIGGER, headers=bearer(forger, SCHEDULER))
    assert response.status_code == 403
    assert "not valid" in response.json()["detail"]


def test_no_token_is_refused_but_health_is_open(http: httpx.Client) -> None:
    assert http.post(TRIGGER).status_code == 403
    assert http.get("/healthz").status_code == 200


def test_a_signature_stripped_serverless_header_is_read_without_verifying(
    http: httpx.Client, google: FakeGoogle
) -> None:
    """Cloud Run verified it and removed the signature: its claims are all that arrive."""
    header, payload, _ = google.key.sign(aud=URL, email=SCHEDULER, sub="1").split(".")
    stripped = {"X-Serverless-Authorization": f"Bearer {header}.{payload}."}
    assert http.post(TRIGGER, headers=stripped).status_code == 404
    header, payload, _ = google.key.sign(aud=URL, email=OPERATOR, sub="1").split(".")
    wrong = {"X-Serverless-Authorization": f"Bearer {header}.{payload}."}
    assert http.post(TRIGGER, headers=wrong).status_code == 403


def test_googles_certs_are_fetched_once_for_many_requests(
    http: httpx.Client, google: FakeGoogle
) -> None:
    for _ in range(3):
        http.post(TRIGGER, headers=bearer(google, SCHEDULER))
    assert google.certs_requests() == 1


def test_a_listed_group_admits_any_admitted_caller_to_operator_routes_and_logs_it(
    google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    fields = {**CHECKED, "operator_members": ["group:data-ops@acme.example"]}
    for http in client_for(google, **fields):
        with caplog.at_level(logging.WARNING, logger="job_runner.api.callers"):
            response = http.post(
                "/backfills", json=BACKFILL, headers=bearer(google, "bo@x.example")
            )
        assert response.status_code != 403
        assert "bo@x.example" in caplog.text and "group" in caplog.text
        # Routes without operators stay closed.
        assert http.post(TRIGGER, headers=bearer(google, "bo@x.example")).status_code == 403


def test_locally_the_check_is_off_and_start_up_says_so(
    google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="job_runner.api.callers"):
        for http in client_for(google):
            assert http.post(TRIGGER).status_code == 404
    assert "caller checks are off" in caplog.text


def test_operator_members_must_be_iam_members() -> None:
    with pytest.raises(
        ValueError, match=r"operator member 'ada@acme.example' is not an IAM member"
    ):
        settings(operator_members=["ada@acme.example"])


def test_infra_passes_operator_members_as_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_RUNNER_CHECK_CALLERS", "true")
    monkeypatch.setenv(
        "JOB_RUNNER_OPERATOR_MEMBERS", '["user:ada@acme.example", "group:g@acme.example"]'
    )
    read = JobRunnerSettings()
    assert read.check_callers is True
    assert read.operator_members == ["user:ada@acme.example", "group:g@acme.example"]
