"""One error shape: every error is JSON {detail, error_kind, request_id} with the id also in
X-Request-ID; bodies are capped; a 422 never echoes a huge input; a 500 leaks nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from dayflow.local.process import get_free_port
from tests.job_runner.conftest import App, start_app

pytestmark = pytest.mark.emulator

PIPELINE = "shop_daily"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str) -> Iterator[App]:
    """A job-runner with a 4 KiB body cap, whose fault file is not JSON (an unexpected error in
    every POST /runs that gets past validation)."""
    directory = tmp_path_factory.mktemp("errors")
    faults = directory / "faults.json"
    faults.write_text("this is not JSON")
    yield from start_app(
        directory,
        bigquery_endpoint,
        f"127.0.0.1:{get_free_port()}",
        max_body_bytes=4096,
        faults_file=faults,
    )


def assert_error(response: httpx.Response, status: int, kind: str = "permanent") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "error_kind", "request_id"}
    assert body["error_kind"] == kind
    assert body["request_id"] == response.headers["X-Request-ID"] != "-"
    detail: str = body["detail"]
    return detail


RUN = {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": "2024-01-02"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "detail"),
    [
        ("POST", "/runs", {"content": b"{not json", "headers": {"content-type":
         "application/json"}}, 400, "request body is not valid JSON"),
        ("GET", "/nowhere", {}, 404, "no route '/nowhere'"),
        ("GET", "/pipelines/nope/plan", {"params": {"start": "2024-01-01", "end": "2024-01-01"}},
         404, "unknown pipeline 'nope'"),
        ("DELETE", "/runs", {}, 405, "method DELETE is not allowed on '/runs'"),
        ("POST", "/runs", {"json": {**RUN, "attempt": True}}, 422, "attempt: Input should be a "
         "valid integer"),
        ("POST", "/backfills", {"json": {"pipeline": PIPELINE, "start": "2024-01-01", "end":
         "2024-01-02", "concurrency": "4"}}, 422, "concurrency: Input should be a valid integer"),
        ("POST", "/backfills", {"json": {"pipeline": PIPELINE}}, 422, "expected either start and "
         "end, or partition_keys"),
        ("GET", "/backfills/%00", {}, 422, "backfill_id: String should match pattern"),
    ],
)  # fmt: skip
def test_every_error_is_json_with_a_request_id(
    api: App, method: str, path: str, kwargs: dict[str, object], status: int, detail: str
) -> None:
    response = api.http.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert detail in assert_error(response, status)


def test_a_given_request_id_is_kept(api: App) -> None:
    response = api.http.get("/nowhere", headers={"X-Request-ID": "trace-123"})
    assert assert_error(response, 404) and response.headers["X-Request-ID"] == "trace-123"


def test_a_body_over_the_cap_is_413_declared_or_streamed(api: App) -> None:
    big = b'{"pipeline": "' + b"a" * 5000 + b'"}'
    declared = api.http.post(
        "/backfills", content=big, headers={"content-type": "application/json"}
    )
    assert "larger than 4096 bytes" in assert_error(declared, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield from (big[i : i + 1000] for i in range(0, len(big), 1000))

    streamed = api.http.post(
        "/backfills", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "larger than 4096 bytes" in assert_error(streamed, 413)


def test_a_422_quotes_at_most_a_little_of_a_huge_input(api: App) -> None:
    response = api.http.get(
        f"/pipelines/{PIPELINE}/plan", params={"start": "9" * 3000, "end": "2024-01-01"}
    )
    detail = assert_error(response, 422)
    assert "chars)" in detail and len(response.content) < 1000


def test_an_unexpected_error_is_a_500_that_leaks_nothing_and_is_logged(
    api: App, caplog: pytest.LogCaptureFixture
) -> None:
    # A route of the real app that fails as a bug would: the middleware answers for it.
    def fail() -> None:
        raise RuntimeError("secret internals: http://10.0.0.1/bigquery")

    api.app.add_api_route("/__fail", fail)
    with caplog.at_level(logging.ERROR, logger="job_runner.errors"):
        response = api.http.get("/__fail")
    detail = assert_error(response, 500, "internal")
    request_id = response.json()["request_id"]
    assert detail.startswith(f"internal error (request id {request_id}")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_an_unexpected_error_inside_a_run_is_a_transient_failure_that_leaks_nothing(
    api: App, caplog: pytest.LogCaptureFixture
) -> None:
    # The fault file is not JSON: the run's body fails unexpectedly. A caller's retry may start
    # the next attempt (transient); the answer names the run, the log holds the traceback.
    with caplog.at_level(logging.ERROR, logger="job_runner.domain.runner"):
        response = api.http.post("/runs", json=RUN)
    detail = assert_error(response, 503, "transient")
    assert "failed with an unexpected error" in detail
    assert "JSON" not in detail and "Traceback" not in response.text
    assert any(
        r.exc_info and "shop_daily/stg_orders/2024-01-02" in r.getMessage() for r in caplog.records
    )


def test_openapi_documents_each_routes_errors_keys_and_bounds(api: App) -> None:
    spec = api.http.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorPublic"}, (path, code)
    plan = spec["paths"]["/pipelines/{name}/plan"]["get"]
    assert {"404", "422", "503"} <= set(plan["responses"])
    start = next(p for p in plan["parameters"] if p["name"] == "start")
    assert start["schema"]["pattern"] == r"^\d{4}-\d{2}-\d{2}(T\d{2})?$"
    assert "JOB_RUNNER_MAX_RANGE_PARTITIONS" in start["description"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    backfill = spec["components"]["schemas"]["BackfillCreate"]
    assert {"required": ["partition_keys"]}.items() <= backfill["oneOf"][1].items()
    # Resetting the in-flight maximums changes state: a POST, not a GET parameter.
    assert "post" in spec["paths"]["/stats/reset"]
    assert "parameters" not in spec["paths"]["/stats"]["get"]
