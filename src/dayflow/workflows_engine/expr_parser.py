"""Lexer and Pratt parser for Workflows expressions (the text inside `${...}`).

Precedence follows Google's table (reference/syntax/datatypes, "Order of operations"), from
most to least binding: `()`, `.`, `[]`, `not`, unary `-`, `* / // %`, `+ -`,
comparisons and `in`, `and`, `or`. Note that `not` binds tighter than comparisons:
`not a == b` is `(not a) == b`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import WorkflowDefinitionError

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>//|==|!=|<=|>=|[-+*/%<>()\[\]{},.:])
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b"}
_KEYWORDS = {
    "and": "and",
    "AND": "and",
    "or": "or",
    "OR": "or",
    "not": "not",
    "NOT": "not",
    "in": "in",
}
_CONSTANTS: dict[str, Any] = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "null": None,
}
_BINARY_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "==": 3,
    "!=": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "in": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "//": 5,
    "%": 5,
}


# --- AST -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Attr:
    target: Node
    name: str


@dataclass(frozen=True)
class Index:
    target: Node
    index: Node


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class ListLit:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class MapLit:
    items: tuple[tuple[Node, Node], ...]


Node = Const | Var | Attr | Index | Call | Unary | Binary | ListLit | MapLit


def dotted_name(node: Node) -> str | None:
    """`a.b.c` as a string when `node` is a plain chain of names, else None."""
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Attr):
        head = dotted_name(node.target)
        return f"{head}.{node.name}" if head is not None else None
    return None


# --- lexer -----------------------------------------------------------------------------


def _unescape(raw: str, source: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt == "u":
            code = raw[i + 2 : i + 6]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", code):
                raise WorkflowDefinitionError(f"bad \\u escape in expression '{source}'")
            out.append(chr(int(code, 16)))
            i += 6
            continue
        if nxt not in _ESCAPES:
            raise WorkflowDefinitionError(f"unknown escape '\\{nxt}' in expression '{source}'")
        out.append(_ESCAPES[nxt])
        i += 2
    return "".join(out)


def tokenize(source: str) -> list[tuple[str, Any]]:
    """Tokens as (kind, value); kinds: num, str, name, kw, op, end."""
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise WorkflowDefinitionError(
                f"unexpected character {source[pos]!r} at position {pos} in expression '{source}'"
            )
        pos = match.end()
        kind = match.lastgroup
        text = match.group()
        if kind == "ws":
            continue
        if kind == "num":
            is_double = "." in text or "e" in text or "E" in text
            tokens.append(("num", float(text) if is_double else int(text)))
        elif kind == "str":
            tokens.append(("str", _unescape(text[1:-1], source)))
        elif kind == "name" and text in _KEYWORDS:
            tokens.append(("kw", _KEYWORDS[text]))
        else:
            tokens.append((kind or "op", text))
    tokens.append(("end", None))
    return tokens


# --- parser ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0

    def error(self, what: str) -> WorkflowDefinitionError:
        return WorkflowDefinitionError(f"{what} in expression '{self.source}'")

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.pos]

    def advance(self) -> tuple[str, Any]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, op: str) -> None:
        kind, value = self.advance()
        if kind != "op" or value != op:
            raise self.error(f"expected '{op}' but found {value!r}")

    def parse(self) -> Node:
        if self.peek()[0] == "end":
            raise self.error("empty expression")
        node = self.expression(1)
        kind, value = self.peek()
        if kind != "end":
            raise self.error(f"unexpected {value!r}")
        return node

    def expression(self, min_precedence: int) -> Node:
        left = self.prefix()
        while True:
            kind, value = self.peek()
            if kind not in ("op", "kw") or value not in _BINARY_PRECEDENCE:
                return left
            precedence = _BINARY_PRECEDENCE[value]
            if precedence < min_precedence:
                return left
            self.advance()
            right = self.expression(precedence + 1)
            left = Binary(value, left, right)

    def prefix(self) -> Node:
        kind, value = self.peek()
        if kind == "kw" and value == "not":
            self.advance()
            return Unary("not", self.prefix())
        if kind == "op" and value == "-":
            self.advance()
            operand = self.prefix()
            value = operand.value if isinstance(operand, Const) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return Const(-value)
            return Unary("-", operand)
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            kind, value = self.peek()
            if kind != "op":
                return node
            if value == ".":
                self.advance()
                name_kind, name = self.advance()
                if name_kind not in ("name", "kw"):
                    raise self.error(f"expected a field name after '.', found {name!r}")
                node = Attr(node, name)
            elif value == "[":
                self.advance()
                index = self.expression(1)
                self.expect("]")
                node = Index(node, index)
            elif value == "(":
                function = dotted_name(node)
                if function is None:
                    raise self.error("only named functions can be called")
                self.advance()
                node = Call(function, tuple(self.sequence(")")))
            else:
                return node

    def sequence(self, closer: str) -> list[Node]:
        items: list[Node] = []
        if self.peek() == ("op", closer):
            self.advance()
            return items
        while True:
            items.append(self.expression(1))
            kind, value = self.advance()
            if kind == "op" and value == closer:
                return items
            if kind != "op" or value != ",":
                raise self.error(f"expected ',' or '{closer}' but found {value!r}")

    def primary(self) -> Node:
        kind, value = self.advance()
        if kind in ("num", "str"):
            return Const(value)
        if kind == "name":
            if value in _CONSTANTS:
                return Const(_CONSTANTS[value])
            return Var(value)
        if kind == "op" and value == "(":
            node = self.expression(1)
            self.expect(")")
            return node
        if kind == "op" and value == "[":
            return ListLit(tuple(self.sequence("]")))
        if kind == "op" and value == "{":
            return self.map_literal()
        raise self.error(f"unexpected {value!r}" if kind != "end" else "unexpected end")

    def map_literal(self) -> MapLit:
        items: list[tuple[Node, Node]] = []
        if self.peek() == ("op", "}"):
            self.advance()
            return MapLit(())
        while True:
            key = self.expression(1)
            self.expect(":")
            items.append((key, self.expression(1)))
            kind, value = self.advance()
            if kind == "op" and value == "}":
                return MapLit(tuple(items))
            if kind != "op" or value != ",":
                raise self.error(f"expected ',' or '}}' but found {value!r}")


def parse(source: str) -> Node:
    """Parse the text of one expression (without the `${` `}` delimiters)."""
    return _Parser(source).parse()
