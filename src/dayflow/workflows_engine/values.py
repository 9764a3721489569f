"""Workflows values in Python: types, equality, ordering, JSON size.

Workflows has int (64-bit), double, string, bool, null, bytes, list and map. In Python they
are int, float, str, bool, None, bytes, list and dict. Python's `bool` is an `int`, so every
check here tells them apart explicitly (`true == 1` is false in Workflows).

Values are never mutated in place once stored in a variable: path assignments copy the
containers along the path, so `b: ${a}` never aliases `a`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import TYPE_ERROR, VALUE_ERROR, workflow_error

INT_MIN = -(2**63)
_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but '"' and '\\': JSON as is
INT_MAX = 2**63 - 1


@dataclass(frozen=True)
class FunctionRef:
    """A function used as a value, e.g. `${http.default_retry_predicate}` or a subworkflow."""

    name: str


class SizedList(list[Any]):
    """A list that knows its JSON size, so `list.concat` accumulations cost O(1) to measure.

    Only built by list.concat / list.prepend from an existing list plus one element;
    like every stored value it is never mutated afterwards.
    """

    __slots__ = ("json_size",)

    def __init__(self, items: list[Any], size: int) -> None:
        super().__init__(items)
        self.json_size = size


def extended(items: list[Any], value: Any, *, front: bool = False) -> SizedList:
    """`items` plus `value` (appended, or prepended with `front`), with its size tracked."""
    base = json_size(items)
    size = base + json_size(value) + (1 if items else 0)
    return SizedList([value, *items] if front else [*items, value], size)


def type_name(value: Any) -> str:
    """The Workflows name of a value's type (used in error messages and `get_type`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, FunctionRef):
        return "function"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_int(value: int) -> int:
    """Keep integer results inside int64, as Workflows does."""
    if value < INT_MIN or value > INT_MAX:
        raise workflow_error(VALUE_ERROR, f"integer overflow: {value} does not fit in 64 bits")
    return value


def equals(a: Any, b: Any) -> bool:
    """Workflows equality: numbers compare by value, other types must match, deep for containers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(equals(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(equals(v, b[k]) for k, v in a.items())
        )
    if type(a) is not type(b):
        return False
    return bool(a == b)


def compare(op: str, a: Any, b: Any) -> bool:
    """Ordering comparisons: numbers with numbers, strings with strings, else TypeError."""
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise workflow_error(
            TYPE_ERROR,
            f"unsupported operand types for {op}: {type_name(a)} and {type_name(b)}",
        )
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        # Bytes are not JSON; count them by a same-sized placeholder.
        return "x" * len(value)
    if isinstance(value, FunctionRef):
        return value.name
    raise TypeError(f"not a Workflows value: {type(value).__name__}")


def json_size(value: Any) -> int:
    """Size in bytes of a value serialized as compact JSON (the memory-limit measure)."""
    if value is None or isinstance(value, bool):
        return 4 if value is not False else 5
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, str) and len(value) < 64 and _PLAIN.fullmatch(value):
        return len(value) + 2  # the quotes; no escapes needed
    if type(value) is SizedList:
        return value.json_size
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return len(encoded.encode("utf-8"))


def to_json(value: Any, *, what: str = "value") -> str:
    """Serialize a value to JSON as Workflows returns it (bytes cannot be returned)."""

    def reject(v: Any) -> Any:
        raise workflow_error(
            TYPE_ERROR,
            f"{what} of type {type_name(v)} cannot be JSON-encoded"
            + (" (use base64.encode for bytes)" if isinstance(v, bytes) else ""),
        )

    if isinstance(value, float) and not math.isfinite(value):
        reject(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=reject)


def deep_copy(value: Any) -> Any:
    """Copy containers so that stored values never alias (used for arguments and results)."""
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    return value


Fn = Callable[..., Any]
