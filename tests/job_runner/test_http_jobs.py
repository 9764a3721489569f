"""`http` jobs through the real job-runner (POST /runs over HTTP, the run ledger on the session's
emulator) against a real service: a tiny FastAPI app under uvicorn on 127.0.0.1.

What a service answers decides the run: 2xx with `{"rows_written": N}` succeeds; 5xx, 429, a
timeout (the job's `timeout_seconds`) or a refused connection are transient (503 from the
job-runner, a caller may retry with a new attempt); any other 4xx, or a 2xx without that result,
is permanent (422), each with the service's answer quoted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request, Response

from dayflow.local.process import get_free_port
from dayflow.local.stack import create_warehouse
from dayflow.spec import load_spec
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server

pytestmark = pytest.mark.emulator

KEY = "2024-03-05"
SLOW_SECONDS = 3.0
# What the tiny service received, by run_id.
received: dict[str, dict[str, Any]] = {}


def make_service() -> FastAPI:
    app = FastAPI()

    @app.post("/ok")
    async def ok(request: Request) -> dict[str, Any]:
        body = await request.json()
        received[body["run_id"]] = {"body": body, "headers": dict(request.headers)}
        return {"rows_written": 3, "source": "tiny"}

    @app.post("/status/{code}")
    def status(code: int) -> Response:
        return Response(f"status {code} from tiny\n  on purpose", status_code=code)

    @app.post("/bad/{kind}")
    def bad(kind: str) -> Response:
        body = {
            "text": "done!",
            "list": "[1, 2]",
            "negative": '{"rows_written": -1}',
            "string": '{"rows_written": "3"}',
            "missing": '{"rows": 3}',
            "empty": "",
        }[kind]
        return Response(body, media_type="application/json")

    @app.post("/slow")
    def slow() -> dict[str, int]:
        time.sleep(SLOW_SECONDS)
        return {"rows_written": 1}

    return app


def http_job(path: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "http", "service": "tiny", "path": path, **extra}


JOBS: dict[str, dict[str, Any]] = {
    "ok": http_job(
        "/ok",
        destination={"dataset": "landing", "table": "rates", "partition_field": "rate_date"},
    ),
    "unavailable": http_job("/status/503"),
    "throttled": http_job("/status/429"),
    "not_found": http_job("/status/404"),
    "forbidden": http_job("/status/403"),
    "text": http_job("/bad/text"),
    "list": http_job("/bad/list"),
    "negative": http_job("/bad/negative"),
    "string": http_job("/bad/string"),
    "missing": http_job("/bad/missing"),
    "empty": http_job("/bad/empty"),
    "slow": http_job("/slow", timeout_seconds=1),
    "refused": {"kind": "http", "service": "gone", "path": "/x"},
    "unknown_url": {"kind": "http", "service": "no_url", "path": "/x"},
}


@pytest.fixture(scope="module")
def runner(
    tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str
) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("http_jobs")
    spec = {
        "version": 1,
        "name": "httpjobs",
        "environments": {
            "local": {"gcp_project": "local", "dataset_prefix": f"t{uuid.uuid4().hex[:8]}_"},
            "dev": {"gcp_project": "acme-http-dev"},
        },
        "services": {
            name: {"local": {"command": ["unused-here"]}} for name in ("tiny", "gone", "no_url")
        },
        "pipelines": {
            "calls": {
                "granularity": "day",
                "timezone": "Europe/Stockholm",
                "schedule": "0 2 * * *",
                "start": "2024-01-01",
                "jobs": JOBS,
            }
        },
    }
    spec_path = folder / "dayflow.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    with Server(make_service()) as service:
        settings = JobRunnerSettings(
            spec_path=spec_path,
            bigquery_endpoint=bigquery_endpoint,
            run_hold_seconds=30,
            # `gone` listens nowhere: its connection is refused at once.
            service_urls={"tiny": service.url, "gone": f"http://127.0.0.1:{get_free_port()}"},
        )
        with (
            Server(create_app(settings)) as server,
            httpx.Client(base_url=server.url, timeout=60) as http,
        ):
            yield http


def run(http: httpx.Client, job: str, attempt: int = 1) -> httpx.Response:
    return http.post(
        "/runs", json={"pipeline": "calls", "job": job, "partition_key": KEY, "attempt": attempt}
    )


def test_a_service_answering_rows_written_succeeds_with_the_partition_posted(
    runner: httpx.Client,
) -> None:
    response = run(runner, "ok", attempt=2)
    assert response.status_code == 200, response.text
    assert response.json()["rows_written"] == 3
    (call,) = [c for c in received.values() if c["body"]["job"] == "ok"]
    body = call["body"]
    prefix = body["dataset_prefix"]
    assert body == {
        "pipeline": "calls",
        "job": "ok",
        "partition_key": KEY,
        # Europe/Stockholm is UTC+1 in March before the change: local midnight to midnight.
        "partition_start": "2024-03-04T23:00:00Z",
        "partition_end": "2024-03-05T23:00:00Z",
        "attempt": 2,
        "run_id": body["run_id"],
        "environment": "local",
        "gcp_project": "local",
        "dataset_prefix": prefix,
        "destination": {
            "project": "local",
            "dataset": f"{prefix}landing",
            "table": "rates",
            "partition_field": "rate_date",
        },
    }
    assert body["run_id"].startswith("calls") and "ok" in body["run_id"]
    assert "authorization" not in call["headers"]  # locally no ID token


@pytest.mark.parametrize(("job", "code"), [("unavailable", 503), ("throttled", 429)])
def test_5xx_and_429_are_transient(runner: httpx.Client, job: str, code: int) -> None:
    response = run(runner, job)
    assert response.status_code == 503, response.text
    assert response.json()["error_kind"] == "transient"
    assert f"answered {code}: 'status {code} from tiny on purpose'" in response.json()["detail"]


def test_other_4xx_are_permanent_and_a_403_names_the_invoker_role(runner: httpx.Client) -> None:
    response = run(runner, "not_found")
    assert response.status_code == 422, response.text
    assert response.json()["error_kind"] == "permanent"
    assert "answered 404: 'status 404 from tiny on purpose'" in response.json()["detail"]
    forbidden = run(runner, "forbidden").json()
    assert forbidden["error_kind"] == "permanent"
    assert "needs roles/run.invoker on the service" in forbidden["detail"]


@pytest.mark.parametrize(
    ("job", "quoted"),
    [
        ("text", "'done!'"),
        ("list", "'[1, 2]'"),
        ("negative", """'{"rows_written": -1}'"""),
        ("string", """'{"rows_written": "3"}'"""),
        ("missing", """'{"rows": 3}'"""),
        ("empty", "an empty body"),
    ],
)
def test_a_2xx_without_rows_written_is_permanent_naming_what_came(
    runner: httpx.Client, job: str, quoted: str
) -> None:
    response = run(runner, job)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"answered 200 with {quoted} (expected a JSON object such as " in detail
    assert detail.endswith('{"rows_written": 42}: an integer >= 0)')


def test_the_spec_timeout_bounds_the_call_and_is_transient(runner: httpx.Client) -> None:
    started = time.monotonic()
    response = run(runner, "slow")
    assert response.status_code == 503, response.text
    assert "no answer within 1 s" in response.json()["detail"]
    assert time.monotonic() - started < SLOW_SECONDS


def test_a_refused_connection_is_transient_and_a_missing_url_permanent(
    runner: httpx.Client,
) -> None:
    refused = run(runner, "refused")
    assert refused.status_code == 503 and "ConnectError" in refused.json()["detail"]
    missing = run(runner, "unknown_url")
    assert missing.status_code == 422
    assert missing.json()["detail"] == (
        "job 'unknown_url' calls service 'no_url', whose URL this job-runner was not given "
        "(expected it in JOB_RUNNER_SERVICE_URLS, which infra sets in GCP and `dayflow local up` "
        "locally; known: gone, tiny)"
    )


def test_the_ledger_records_each_failure_with_its_kind(runner: httpx.Client) -> None:
    for job in ("unavailable", "not_found"):
        run(runner, job, attempt=7)
    grid = runner.get("/runs", params={"pipeline": "calls", "start": KEY, "end": KEY}).json()
    jobs = grid["partitions"][0]["jobs"]
    assert jobs["unavailable"]["status"] == "failed"
    assert jobs["not_found"]["status"] == "failed"
    assert "answered 404" in jobs["not_found"]["error"]


def test_in_gcp_the_call_carries_an_id_token_for_the_service_url() -> None:
    """The caller at the GCP boundary: the token's audience is the service's URL, fetched by the
    injected token source (google.oauth2.id_token.fetch_id_token in GCP)."""
    from job_runner.clients.services import HttpxServiceCaller

    audiences: list[str] = []

    def token(audience: str) -> str:
        audiences.append(audience)
        return f"token-{len(audiences)}"

    with Server(make_service()) as service:
        caller = HttpxServiceCaller(get_id_token=token)
        response = caller.post(
            f"{service.url}/ok",
            {"run_id": "tok", "job": "t"},
            timeout_seconds=10,
            audience=service.url,
        )
    assert response.status_code == 200
    assert audiences == [service.url]
    assert received["tok"]["headers"]["authorization"] == "Bearer token-1"


def test_a_token_that_cannot_be_minted_is_permanent_and_an_unreachable_metadata_server_transient() -> (
    None
):
    import google.auth.exceptions

    from job_runner.clients.services import HttpxServiceCaller, ServiceCallError

    def no_credentials(audience: str) -> str:
        raise google.auth.exceptions.DefaultCredentialsError("no credentials here")

    def no_metadata(audience: str) -> str:
        raise google.auth.exceptions.TransportError("metadata server timed out")

    for source, transient in ((no_credentials, False), (no_metadata, True)):
        with pytest.raises(ServiceCallError) as err:
            HttpxServiceCaller(get_id_token=source).post(
                "https://fx.example.run.app/x", {}, timeout_seconds=1, audience="https://fx"
            )
        assert err.value.transient is transient
        assert "no ID token for https://fx" in str(err.value)
