"""Compile Workflows expressions to Python closures, once per distinct source text.

A YAML value is an expression only when the whole string is `${...}`; any other string,
including `"id-${x}"`, is a literal (Workflows does not interpolate inside strings).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from . import expr_parser as ast
from .errors import (
    INDEX_ERROR,
    KEY_ERROR,
    TYPE_ERROR,
    ZERO_DIVISION_ERROR,
    WorkflowDefinitionError,
    WorkflowError,
    workflow_error,
)
from .values import FunctionRef, check_int, compare, equals, is_number, type_name

_EXPRESSION = re.compile(r"\$\{(.*)\}", re.DOTALL)

# Roots of the standard library and connectors: `http.default_retry` is a function
# reference, not a field of a variable called `http`.
LIBRARY_NAMESPACES = frozenset(
    {
        "base64",
        "events",
        "experimental",
        "googleapis",
        "hash",
        "http",
        "json",
        "list",
        "map",
        "math",
        "retry",
        "sys",
        "text",
        "time",
        "uuid",
    }
)


# In `Expression.functions`, names used as values (not called) carry this prefix.
REFERENCE_MARK = "&"
# ... and the variables an expression reads carry this one (for deploy-time scope checks).
VARIABLE_MARK = "$"


class EvalContext(Protocol):
    """What an expression needs from the running workflow."""

    def lookup(self, name: str) -> Any:
        """Value of variable `name`, or raise a KeyError-tagged WorkflowError."""
        ...

    def call(self, function: str, args: list[Any]) -> Any:
        """Call a standard library function or subworkflow with positional args."""
        ...


Evaluator = Callable[[EvalContext], Any]


@dataclass(frozen=True)
class Expression:
    """One compiled `${...}` expression.

    Attributes:
        source: the text between `${` and `}`.
        evaluate: the compiled closure.
        functions: names of the functions it calls (validated at load time); names only
            referenced, not called, start with REFERENCE_MARK.
        name: `a.b.c` when the expression is a bare name chain (a function reference
            candidate, e.g. a retry predicate), else None.
    """

    source: str
    evaluate: Evaluator
    functions: frozenset[str]
    name: str | None


@dataclass(frozen=True)
class CompiledValue:
    """A YAML value whose strings may hold expressions anywhere inside it."""

    evaluate: Evaluator
    functions: frozenset[str]
    constant: bool

    @property
    def variables(self) -> frozenset[str]:
        """Root names of the variables this value reads."""
        mark = len(VARIABLE_MARK)
        return frozenset(n[mark:] for n in self.functions if n.startswith(VARIABLE_MARK))


def as_expression_text(value: Any) -> str | None:
    """The inner text when `value` is a `${...}` string, else None."""
    if isinstance(value, str):
        match = _EXPRESSION.fullmatch(value)
        if match is not None:
            return match.group(1)
    return None


@lru_cache(maxsize=8192)
def compile_expression(source: str) -> Expression:
    """Parse and compile an expression (cached by source text)."""
    node = ast.parse(source)
    functions: set[str] = set()
    evaluate = _compile(node, functions)
    return Expression(source, evaluate, frozenset(functions), ast.dotted_name(node))


def compile_node(node: ast.Node) -> CompiledValue:
    """Compile an already parsed expression node (used for assignment target indexes)."""
    functions: set[str] = set()
    evaluate = _compile(node, functions)
    return CompiledValue(evaluate, frozenset(functions), isinstance(node, ast.Const))


def compile_value(value: Any) -> CompiledValue:
    """Compile a YAML value: `${...}` strings become expressions, containers recurse."""
    functions: set[str] = set()
    evaluate, constant = _compile_value(value, functions)
    return CompiledValue(evaluate, frozenset(functions), constant)


def _compile_value(value: Any, functions: set[str]) -> tuple[Evaluator, bool]:
    text = as_expression_text(value)
    if text is not None:
        expression = compile_expression(text)
        functions.update(expression.functions)
        return expression.evaluate, False
    if isinstance(value, list):
        parts = [_compile_value(v, functions) for v in value]
        if all(constant for _, constant in parts):
            return (lambda ctx: value), True
        evaluators = [e for e, _ in parts]
        return (lambda ctx: [e(ctx) for e in evaluators]), False
    if isinstance(value, dict):
        return _compile_map(value, functions)
    if value is not None and not isinstance(value, bool | int | float | str):
        raise WorkflowDefinitionError(f"unsupported YAML value {value!r} ({type(value).__name__})")
    return (lambda ctx: value), True


def _literal_key(key: Any) -> str:
    """A YAML map key that is not an expression, as the string Workflows uses.

    reference/syntax/maps: map keys are strings. YAML turns an unquoted `1:` into an
    integer, which becomes "1". The docs do not say how `true:`, `null:` or `1.5:` are
    spelled as keys, so those are refused at deploy time (fails locally, not in GCP).
    """
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise WorkflowDefinitionError(
        f"map key {key!r} ({type(key).__name__}) is ambiguous as a string key; "
        f"quote it (expected a string or an integer key)"
    )


def _compile_map(value: dict[Any, Any], functions: set[str]) -> tuple[Evaluator, bool]:
    """A map literal: `${...}` keys are evaluated (reference/syntax/maps, dynamic keys)."""
    entries: list[tuple[str | Evaluator, Evaluator, bool]] = []
    for raw_key, raw_value in value.items():
        text = as_expression_text(raw_key)
        key: str | Evaluator
        if text is not None:
            expression = compile_expression(text)
            functions.update(expression.functions)
            key = expression.evaluate
        else:
            key = _literal_key(raw_key)
        evaluate, constant = _compile_value(raw_value, functions)
        entries.append((key, evaluate, constant and isinstance(key, str)))
    if all(constant for _, _, constant in entries):
        # Constant evaluators ignore their context: build the literal once.
        literal = {key: evaluate(None) for key, evaluate, _ in entries}  # type: ignore[arg-type]
        return (lambda ctx: literal), True

    def build(ctx: EvalContext) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, evaluate, _ in entries:
            name = key if isinstance(key, str) else key(ctx)
            if not isinstance(name, str):
                raise workflow_error(TYPE_ERROR, f"map keys are strings, got {type_name(name)}")
            result[name] = evaluate(ctx)
        return result

    return build, False


# --- operators -------------------------------------------------------------------------


def _type_error(op: str, a: Any, b: Any) -> WorkflowError:
    return workflow_error(
        TYPE_ERROR, f"unsupported operand types for {op}: {type_name(a)} and {type_name(b)}"
    )


def _add(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return check_int(a + b)
    if is_number(a) and is_number(b):
        return float(a) + float(b)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    raise _type_error("+", a, b)


def _sub(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return check_int(a - b)
    if is_number(a) and is_number(b):
        return float(a) - float(b)
    raise _type_error("-", a, b)


def _mul(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return check_int(a * b)
    if is_number(a) and is_number(b):
        return float(a) * float(b)
    raise _type_error("*", a, b)


def _numbers_nonzero(op: str, a: Any, b: Any) -> None:
    if not (is_number(a) and is_number(b)):
        raise _type_error(op, a, b)
    if b == 0:
        raise workflow_error(ZERO_DIVISION_ERROR, "division by zero")


def _div(a: Any, b: Any) -> Any:
    _numbers_nonzero("/", a, b)
    return float(a) / float(b)  # `/` is float division, even for two integers


def _floordiv(a: Any, b: Any) -> Any:
    _numbers_nonzero("//", a, b)
    if type(a) is int and type(b) is int:
        return check_int(a // b)
    return float(math.floor(float(a) / float(b)))


def _mod(a: Any, b: Any) -> Any:
    _numbers_nonzero("%", a, b)
    if type(a) is int and type(b) is int:
        return a % b
    return float(a) % float(b)


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, list):
        return any(equals(item, element) for element in container)
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    raise workflow_error(TYPE_ERROR, f"'in' needs a list or map, got {type_name(container)}")


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _sub,
    "*": _mul,
    "/": _div,
    "//": _floordiv,
    "%": _mod,
    "in": _contains,
    "==": equals,
    "!=": lambda a, b: not equals(a, b),
}


def _require_bool(op: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise workflow_error(TYPE_ERROR, f"'{op}' needs boolean operands, got {type_name(value)}")
    return value


def get_field(target: Any, key: Any) -> Any:
    """`target.key` / `target[key]` with Workflows errors."""
    if isinstance(target, dict):
        if not isinstance(key, str):
            raise workflow_error(TYPE_ERROR, f"map keys are strings, got {type_name(key)}")
        try:
            return target[key]
        except KeyError:
            raise workflow_error(KEY_ERROR, f"key not found: {key}") from None
    if isinstance(target, list):
        if type(key) is not int:
            raise workflow_error(TYPE_ERROR, f"list indices are integers, got {type_name(key)}")
        if key < 0 or key >= len(target):
            raise workflow_error(
                INDEX_ERROR, f"list index {key} out of range (list length {len(target)})"
            )
        return target[key]
    raise workflow_error(TYPE_ERROR, f"cannot read {key!r} of a {type_name(target)}")


# --- compiler --------------------------------------------------------------------------


def _compile(node: ast.Node, functions: set[str]) -> Evaluator:
    if isinstance(node, ast.Const):
        value = node.value
        return lambda ctx: value
    if isinstance(node, ast.Var):
        name = node.name
        functions.add(VARIABLE_MARK + name)
        return lambda ctx: ctx.lookup(name)
    if isinstance(node, ast.Attr):
        dotted = ast.dotted_name(node)
        if dotted is not None and dotted.split(".", 1)[0] in LIBRARY_NAMESPACES:
            ref = FunctionRef(dotted)
            functions.add(REFERENCE_MARK + dotted)
            return lambda ctx: ref
        target = _compile(node.target, functions)
        key = node.name
        return lambda ctx: get_field(target(ctx), key)
    if isinstance(node, ast.Index):
        target = _compile(node.target, functions)
        index = _compile(node.index, functions)
        return lambda ctx: get_field(target(ctx), index(ctx))
    if isinstance(node, ast.Call):
        return _compile_call(node, functions)
    if isinstance(node, ast.Unary):
        operand = _compile(node.operand, functions)
        if node.op == "not":
            return lambda ctx: not _require_bool("not", operand(ctx))

        def negate(ctx: EvalContext) -> Any:
            value = operand(ctx)
            if not is_number(value):
                raise workflow_error(
                    TYPE_ERROR, f"bad operand type for unary -: {type_name(value)}"
                )
            return check_int(-value) if type(value) is int else -value

        return negate
    if isinstance(node, ast.Binary):
        return _compile_binary(node, functions)
    if isinstance(node, ast.ListLit):
        items = [_compile(item, functions) for item in node.items]
        return lambda ctx: [item(ctx) for item in items]
    keys_values = [(_compile(k, functions), _compile(v, functions)) for k, v in node.items]

    def build_map(ctx: EvalContext) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_fn, value_fn in keys_values:
            key = key_fn(ctx)
            if not isinstance(key, str):
                raise workflow_error(TYPE_ERROR, f"map keys are strings, got {type_name(key)}")
            result[key] = value_fn(ctx)
        return result

    return build_map


def _compile_binary(node: ast.Binary, functions: set[str]) -> Evaluator:
    left = _compile(node.left, functions)
    right = _compile(node.right, functions)
    op = node.op
    if op == "and":
        return lambda ctx: _require_bool("and", left(ctx)) and _require_bool("and", right(ctx))
    if op == "or":
        return lambda ctx: _require_bool("or", left(ctx)) or _require_bool("or", right(ctx))
    if op in ("<", "<=", ">", ">="):
        return lambda ctx: compare(op, left(ctx), right(ctx))
    fn = _ARITHMETIC[op]
    return lambda ctx: fn(left(ctx), right(ctx))


def _compile_call(node: ast.Call, functions: set[str]) -> Evaluator:
    args = [_compile(arg, functions) for arg in node.args]
    name = node.function
    if name == "default":
        if len(args) != 2:
            raise WorkflowDefinitionError(f"default() takes 2 arguments, got {len(args)}")
        value_fn, fallback_fn = args

        def default(ctx: EvalContext) -> Any:
            try:
                value = value_fn(ctx)
            except WorkflowError as err:
                if KEY_ERROR not in err.tags:
                    raise
                value = None
            return fallback_fn(ctx) if value is None else value

        return default
    if name == "if":
        if len(args) != 3:
            raise WorkflowDefinitionError(f"if() takes 3 arguments, got {len(args)}")
        cond_fn, then_fn, else_fn = args
        return lambda ctx: then_fn(ctx) if _require_bool("if", cond_fn(ctx)) else else_fn(ctx)
    functions.add(name)
    if not args:
        return lambda ctx: ctx.call(name, [])
    return lambda ctx: ctx.call(name, [arg(ctx) for arg in args])
