"""Structured logs: Cloud Logging's JSON on stdout in GCP, the same records readable locally.

On Cloud Run each stdout line that is a JSON object becomes a structured log entry, and these
fields become the entry's own (https://cloud.google.com/logging/docs/structured-logging):
`severity`, `message`, `time`, `logging.googleapis.com/trace` and
`logging.googleapis.com/labels`. So every line about a run can be found with a filter such as
`labels.pipeline="shop_daily" AND labels.partition_key="2024-01-05"`, and every line of one
request under its trace.

Code logs through the standard library, with labels and fields in `extra`:

    logger.info("run %s succeeded", run_id, extra={"pipeline": "shop_daily", "rows_written": 12})

Keys named in `LABELS` become labels (strings); other `extra` keys stay fields of the JSON
payload. Nothing logged here carries row data or secrets: callers log names, keys, counts and ids.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

# The labels every line about a run carries (those that apply); `execution` is the Workflows
# execution that asked for the run.
LABELS = (
    "pipeline",
    "job",
    "partition_key",
    "attempt",
    "backfill_id",
    "bigquery_job_id",
    "execution",
)
LogFormat = Literal["json", "text"]

# The trace id of the request being served (32 hex digits), set by the job-runner's middleware.
_trace_id: ContextVar[str | None] = ContextVar("dayflow_trace_id", default=None)
# W3C `traceparent: 00-<trace id>-<span id>-<flags>`
# (https://www.w3.org/TR/trace-context/#traceparent-header).
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS`, span and options optional
# (https://cloud.google.com/trace/docs/trace-context#legacy-http-header).
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/\d+)?(?:;o=\d)?$")
# Cloud Logging's LogSeverity names for Python's levels.
_SEVERITY = {"WARN": "WARNING", "FATAL": "CRITICAL"}


def get_trace_id(headers: Mapping[str, str]) -> str | None:
    """The trace id of a request from its `traceparent`, else `X-Cloud-Trace-Context` header;
    None when neither is well formed (an all-zero id is invalid in both)."""
    for header, pattern in (("traceparent", _TRACEPARENT), ("x-cloud-trace-context", _CLOUD_TRACE)):
        match = pattern.match(headers.get(header, "").strip())
        if match and match[1].strip("0"):
            return match[1].lower()
    return None


def bind_trace_id(trace_id: str | None) -> Token[str | None]:
    """Make `trace_id` the trace of every line logged in this context (reset with the token)."""
    return _trace_id.set(trace_id)


def reset_trace_id(token: Token[str | None]) -> None:
    _trace_id.reset(token)


def _split_extra(record: logging.LogRecord, fields: dict[str, Any]) -> dict[str, str]:
    """Move the label keys out of `fields`; return them as strings (Cloud Logging's type)."""
    labels = {}
    for key in LABELS:
        value = fields.pop(key, None)
        if value is None:
            value = getattr(record, key, None)
        if value is not None:
            labels[key] = str(value)
    return labels


class CloudLoggingFormatter(JsonFormatter):
    """One JSON object per line, in Cloud Logging's structured-logging fields."""

    def __init__(self, project: str | None = None) -> None:
        super().__init__(
            "{message}{levelname}{name}",
            style="{",
            rename_fields={"levelname": "severity", "name": "logger", "exc_info": "stack_trace"},
        )
        self.project = project

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["severity"] = _SEVERITY.get(record.levelname, record.levelname)
        log_data["time"] = (
            datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        )
        labels = _split_extra(record, log_data)
        if labels:
            log_data["logging.googleapis.com/labels"] = labels
        trace_id = _trace_id.get()
        if trace_id and self.project:
            log_data["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace_id}"


class ReadableFormatter(logging.Formatter):
    """The same records for a terminal: `time LEVEL logger: message  key=value ...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [f"{key}={getattr(record, key)}" for key in LABELS if hasattr(record, key)]
        if trace_id := _trace_id.get():
            pairs.append(f"trace={trace_id}")
        return f"{line}  {' '.join(pairs)}" if pairs else line


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is when a record is emitted (a server's stdout may be
    replaced after start-up, as test runners do)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(
    log_format: LogFormat, project: str | None = None, level: int = logging.INFO
) -> None:
    """Send the root logger's records to stdout, as Cloud Logging JSON or readable lines.

    `project` names the GCP project of the trace ids (`projects/P/traces/T`).
    """
    handler = _StdoutHandler()
    handler.setFormatter(
        CloudLoggingFormatter(project) if log_format == "json" else ReadableFormatter()
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "dayflow", False)]:
        root.removeHandler(old)
    handler.dayflow = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # One line per HTTP request a client library makes is noise here: only its warnings.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
