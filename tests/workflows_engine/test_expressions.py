"""Property tests of the expression compiler against Python's own arithmetic."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dayflow.workflows_engine.errors import WorkflowError
from dayflow.workflows_engine.expressions import compile_expression

SMALL = st.integers(min_value=-(10**9), max_value=10**9)


class _Vars:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def lookup(self, name: str) -> Any:
        return self.values[name]

    def call(self, function: str, args: list[Any]) -> Any:
        raise AssertionError(f"unexpected call {function}")


@given(SMALL, SMALL, SMALL)
def test_integer_arithmetic_matches_python(a: int, b: int, c: int) -> None:
    expression = compile_expression("a + b * c - (a - c) // (b * b + 1) + a % (c * c + 1)")
    expected = a + b * c - (a - c) // (b * b + 1) + a % (c * c + 1)
    assert expression.evaluate(_Vars(a=a, b=b, c=c)) == expected


@given(SMALL, SMALL.filter(bool))
def test_division_is_always_a_double(a: int, b: int) -> None:
    result = compile_expression("a / b").evaluate(_Vars(a=a, b=b))
    assert isinstance(result, float)
    assert result == a / b


@given(st.integers(min_value=2**62, max_value=2**63 - 1))
def test_integer_overflow_raises_value_error(a: int) -> None:
    try:
        compile_expression("a + a").evaluate(_Vars(a=a))
    except WorkflowError as err:
        assert err.tags == ["ValueError"]
    else:
        raise AssertionError("expected an overflow error")


def test_same_source_is_compiled_once() -> None:
    assert compile_expression("x + 1") is compile_expression("x + 1")
