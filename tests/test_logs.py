"""dayflow.logs: Cloud Logging's structured-logging fields
(https://cloud.google.com/logging/docs/structured-logging), trace ids from either trace header,
and the same records as readable lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dayflow.errors import DayflowError
from dayflow.logs import (
    CloudLoggingFormatter,
    ReadableFormatter,
    bind_trace_id,
    get_trace_id,
    reset_trace_id,
)
from dayflow.runner_client import JobRunnerClient
from tests.conftest import Server

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter("acme-dev"))
    log = logging.getLogger("tests.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, TRACE),
        ({"x-cloud-trace-context": f"{TRACE.upper()}/1;o=1"}, TRACE),
        ({"x-cloud-trace-context": TRACE}, TRACE),
        # traceparent wins over the legacy header
        ({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "x-cloud-trace-context": "f" * 32},
         TRACE),
        ({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}, None),  # all-zero is invalid
        ({"traceparent": "garbage", "x-cloud-trace-context": "not-a-trace"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_trace_id_comes_from_traceparent_else_cloud_trace_context(
    headers: dict[str, str], expected: str | None
) -> None:
    assert get_trace_id(headers) == expected


def test_a_line_has_severity_message_labels_and_trace(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    token = bind_trace_id(TRACE)
    try:
        log.warning(
            "run %s failed (transient)",
            "p/j/2024-01-05/2",
            extra={"pipeline": "p", "job": "j", "attempt": 2, "rows_written": 0},
        )
    finally:
        reset_trace_id(token)
    log.info("outside the request")

    first, second = lines(stream)
    assert first["severity"] == "WARNING"
    assert first["message"] == "run p/j/2024-01-05/2 failed (transient)"
    assert first["logging.googleapis.com/labels"] == {"pipeline": "p", "job": "j", "attempt": "2"}
    assert first["logging.googleapis.com/trace"] == f"projects/acme-dev/traces/{TRACE}"
    assert first["rows_written"] == 0  # other extras stay payload fields, typed
    assert first["time"].endswith("Z")
    assert "logging.googleapis.com/trace" not in second
    assert "logging.googleapis.com/labels" not in second


def test_an_exception_goes_to_stack_trace_for_error_reporting(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        log.exception("unexpected")
    [line] = lines(stream)
    assert line["severity"] == "ERROR"
    assert line["stack_trace"].startswith("Traceback (most recent call last)")
    assert line["stack_trace"].endswith("ZeroDivisionError: division by zero")


def test_the_same_record_reads_as_one_line_locally() -> None:
    record = logging.LogRecord("dayflow.runs", logging.INFO, __file__, 1, "run %s", ("x",), None)
    record.pipeline = "p"
    record.partition_key = "2024-01-05"
    assert (
        ReadableFormatter()
        .format(record)
        .endswith("INFO dayflow.runs: run x  pipeline=p partition_key=2024-01-05")
    )


def test_the_cli_sends_one_trace_per_command_and_names_it_on_a_server_error() -> None:
    seen: list[str] = []
    app = FastAPI()

    @app.get("/stats")
    def stats(request: Request) -> JSONResponse:
        seen.append(request.headers["traceparent"])
        return JSONResponse({"detail": "boom"}, status_code=500 if len(seen) > 1 else 200)

    with Server(app) as server, JobRunnerClient(server.url) as client:
        client.get_stats()
        with pytest.raises(DayflowError) as caught:
            client.get_stats()

    first, second = (get_trace_id({"traceparent": header}) for header in seen)
    assert first == second == client.trace_id
    assert seen[0] != seen[1]  # a new span per call
    assert str(caught.value) == f"job-runner answered 500: boom (its logs: trace {first})"
