"""The function's log lines: Cloud Logging's JSON on stdout in GCP
(https://cloud.google.com/logging/docs/structured-logging), readable lines locally.

The same fields as dayflow.logs writes for the job-runner (severity, message, time, labels),
through python-json-logger; this function imports nothing of dayflow, for its cold start.
Lines name messages, topics and reasons, never payload values (they may hold personal data).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

logger = logging.getLogger("ingestfn")
# `extra` keys that become labels of the entry.
LABELS = ("topic", "reason")


class CloudLoggingFormatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__("{message}{levelname}", style="{", rename_fields={"levelname": "severity"})

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["time"] = (
            datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        )
        labels = {key: str(log_data.pop(key)) for key in LABELS if key in log_data}
        if labels:
            log_data["logging.googleapis.com/labels"] = labels


def configure_logging(log_format: Literal["json", "text"]) -> None:
    """Write the function's lines to stdout, once per instance."""
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    text = logging.Formatter("%(asctime)s %(levelname)s ingest_event: %(message)s", "%H:%M:%S")
    handler.setFormatter(CloudLoggingFormatter() if log_format == "json" else text)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
