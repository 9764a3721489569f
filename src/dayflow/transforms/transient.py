"""Whether a failure message from dbt or Dataform describes a failure worth retrying.

The tools hand back errors as text, so this goes by the words BigQuery and the HTTP stacks use
for outages, overload and time-outs. Anything else (SQL errors, failing tests, compilation
errors) is permanent: retrying gives the same answer.
"""

from __future__ import annotations

import re

_TRANSIENT = re.compile(
    "|".join(
        (
            # google-api-core renders HTTP errors as e.g. "503 POST https://...: ..."
            r"\b(?:429|500|502|503|504) (?:GET|POST|PUT|PATCH|DELETE)\b",
            r"\b(?:backendError|internalError|rateLimitExceeded|jobRateLimitExceeded)\b",
            r"service unavailable|bad gateway|gateway time-?out|internal error",
            r"timed out|timeout|deadline exceeded",
            r"max retries exceeded|connection (?:refused|reset|aborted)",
            r"\b(?:ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN)\b|socket hang up",
            # a multi-statement transaction aborted by a concurrent one
            r"transaction is aborted|concurrent update|could not serialize access",
        )
    ),
    re.IGNORECASE,
)


def looks_transient(message: str) -> bool:
    """True if `message` reads like an outage, overload or time-out rather than a bad query."""
    return _TRANSIENT.search(message) is not None
