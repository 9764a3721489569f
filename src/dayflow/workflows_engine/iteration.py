"""The values a `for` loop (sequential or parallel) iterates over.

Page followed: https://cloud.google.com/workflows/docs/reference/syntax/iteration. `in`
takes a list; `range` takes `[START, END]` (both inclusive) or one expression yielding that
two-element list, e.g. `range: ${[BEGIN_EXPRESSION, END_EXPRESSION]}`.
"""

from __future__ import annotations

from typing import Any

from .errors import TYPE_ERROR, workflow_error
from .model import ForLoop
from .scope import Scope
from .values import is_number, type_name


def iteration_values(loop: ForLoop, scope: Scope) -> list[Any]:
    """The values a `for` loop iterates over (`in:` list or inclusive `range:`)."""
    if loop.items is not None:
        items = loop.items.evaluate(scope)
        if not isinstance(items, list):
            raise workflow_error(TYPE_ERROR, f"for: 'in' must be a list, got {type_name(items)}")
        return list(items)
    if loop.range is None:  # the parser requires `in` or `range`
        raise workflow_error(TYPE_ERROR, "for: needs 'in' or 'range'")
    if isinstance(loop.range, tuple):
        start, end = (bound.evaluate(scope) for bound in loop.range)
    else:
        bounds = loop.range.evaluate(scope)
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise workflow_error(
                TYPE_ERROR,
                f"for: range must be a list of two numbers [START, END], got {bounds!r}",
            )
        start, end = bounds
    if not (is_number(start) and is_number(end)):
        raise workflow_error(TYPE_ERROR, f"for: range bounds must be numbers: [{start}, {end}]")
    if type(start) is int and type(end) is int:
        return list(range(start, end + 1))
    values: list[Any] = []
    current = float(start)
    while current <= end:
        values.append(current)
        current += 1.0
    return values
