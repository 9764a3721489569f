"""Retry policies of `try`/`retry`: the built-in HTTP policies and custom ones.

Backoff: the delay before retry attempt n (1-based) is
`min(initial_delay * multiplier ** (n - 1), max_delay)` seconds.
The built-in policies use `max_retries: 5` and `retry.default_backoff`
(initial_delay 1 s, max_delay 60 s, multiplier 1.25), as documented for
`http.default_retry` and `http.default_retry_non_idempotent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import TYPE_ERROR, VALUE_ERROR, workflow_error
from .expressions import CompiledValue, EvalContext
from .model import RetrySpec
from .values import is_number

DEFAULT_MAX_RETRIES = 5
DEFAULT_INITIAL_DELAY = 1.0
DEFAULT_MAX_DELAY = 60.0
DEFAULT_MULTIPLIER = 1.25

BUILTIN_PREDICATES = {
    "http.default_retry": "http.default_retry_predicate",
    "http.default_retry_non_idempotent": "http.default_retry_predicate_non_idempotent",
}


@dataclass(frozen=True)
class RetryPolicy:
    predicate: str
    max_retries: int
    initial_delay: float
    max_delay: float
    multiplier: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry `attempt` (1-based)."""
        return float(min(self.initial_delay * self.multiplier ** (attempt - 1), self.max_delay))


def _number(name: str, value: CompiledValue | None, default: float, ctx: EvalContext) -> float:
    if value is None:
        return default
    result = value.evaluate(ctx)
    if not is_number(result) or result < 0:
        raise workflow_error(VALUE_ERROR, f"retry: {name} must be a number >= 0, got {result!r}")
    return float(result)


def resolve_policy(spec: RetrySpec, ctx: EvalContext) -> RetryPolicy:
    """Evaluate a `retry:` block (its values may be expressions) into a policy."""
    if spec.policy is not None:
        return RetryPolicy(
            BUILTIN_PREDICATES[spec.policy],
            DEFAULT_MAX_RETRIES,
            DEFAULT_INITIAL_DELAY,
            DEFAULT_MAX_DELAY,
            DEFAULT_MULTIPLIER,
        )
    assert spec.predicate is not None and spec.max_retries is not None
    max_retries: Any = spec.max_retries.evaluate(ctx)
    if type(max_retries) is not int or max_retries < 0:
        raise workflow_error(
            TYPE_ERROR, f"retry: max_retries must be an integer >= 0, got {max_retries!r}"
        )
    return RetryPolicy(
        spec.predicate,
        max_retries,
        _number("initial_delay", spec.initial_delay, DEFAULT_INITIAL_DELAY, ctx),
        _number("max_delay", spec.max_delay, DEFAULT_MAX_DELAY, ctx),
        _number("multiplier", spec.multiplier, DEFAULT_MULTIPLIER, ctx),
    )
