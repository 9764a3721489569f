"""Standard library `text.*` (Workflows uses RE2; Python's `re` agrees on common patterns)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from .errors import TYPE_ERROR, VALUE_ERROR, workflow_error
from .library import Runtime, register
from .values import type_name


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise workflow_error(TYPE_ERROR, f"{name}: expected string, got {type_name(value)}")
    return value


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise workflow_error(
            VALUE_ERROR, f"invalid regular expression {pattern!r}: {err}"
        ) from None


def _charset(name: str, charset: Any) -> str:
    normalized = _str(name, charset).upper().replace("_", "-")
    if normalized not in ("UTF-8", "UTF8", "ASCII", "US-ASCII", "ISO-8859-1", "LATIN-1", "UTF-16"):
        raise workflow_error(VALUE_ERROR, f"{name}: unsupported charset {charset!r}")
    return normalized


@register("text.decode", "data", "charset", defaults=("UTF-8",))
def _decode(rt: Runtime, data: Any, charset: Any) -> str:
    if not isinstance(data, bytes):
        raise workflow_error(TYPE_ERROR, f"text.decode: expected bytes, got {type_name(data)}")
    try:
        return data.decode(_charset("text.decode", charset))
    except UnicodeDecodeError as err:
        raise workflow_error(VALUE_ERROR, f"text.decode: {err}") from None


@register("text.encode", "text", "charset", defaults=("UTF-8",))
def _encode(rt: Runtime, text: Any, charset: Any) -> bytes:
    try:
        return _str("text.encode", text).encode(_charset("text.encode", charset))
    except UnicodeEncodeError as err:
        raise workflow_error(VALUE_ERROR, f"text.encode: {err}") from None


@register("text.find_all", "source", "substr")
def _find_all(rt: Runtime, source: Any, substr: Any) -> list[dict[str, Any]]:
    text, needle = _str("text.find_all", source), _str("text.find_all", substr)
    if not needle:
        raise workflow_error(VALUE_ERROR, "text.find_all: substr must not be empty")
    found: list[dict[str, Any]] = []
    start = text.find(needle)
    while start != -1:
        found.append({"index": start, "match": needle})
        start = text.find(needle, start + len(needle))
    return found


@register("text.find_all_regex", "source", "regex")
def _find_all_regex(rt: Runtime, source: Any, regex: Any) -> list[dict[str, Any]]:
    pattern = _regex(_str("text.find_all_regex", regex))
    text = _str("text.find_all_regex", source)
    return [{"index": m.start(), "match": m.group()} for m in pattern.finditer(text)]


@register("text.match_regex", "source", "regex")
def _match_regex(rt: Runtime, source: Any, regex: Any) -> bool:
    pattern = _regex(_str("text.match_regex", regex))
    return pattern.search(_str("text.match_regex", source)) is not None


@register("text.replace_all", "source", "substr", "repl")
def _replace_all(rt: Runtime, source: Any, substr: Any, repl: Any) -> str:
    return _str("text.replace_all", source).replace(
        _str("text.replace_all", substr), _str("text.replace_all", repl)
    )


@register("text.replace_all_regex", "source", "regex", "repl")
def _replace_all_regex(rt: Runtime, source: Any, regex: Any, repl: Any) -> str:
    pattern = _regex(_str("text.replace_all_regex", regex))
    try:
        return pattern.sub(_str("text.replace_all_regex", repl), _str("", source))
    except re.error as err:
        raise workflow_error(VALUE_ERROR, f"text.replace_all_regex: {err}") from None


@register("text.split", "source", "separator")
def _split(rt: Runtime, source: Any, separator: Any) -> list[str]:
    text, sep = _str("text.split", source), _str("text.split", separator)
    return list(text) if sep == "" else text.split(sep)


@register("text.substring", "source", "start", "end")
def _substring(rt: Runtime, source: Any, start: Any, end: Any) -> str:
    text = _str("text.substring", source)
    if type(start) is not int or type(end) is not int:
        raise workflow_error(TYPE_ERROR, "text.substring: start and end must be integers")
    start, end = max(0, start), min(len(text), end)  # out-of-range indexes are clamped
    return text[start:end] if start < end else ""


@register("text.index", "source", "substr")
def _index(rt: Runtime, source: Any, substr: Any) -> int:
    return _str("text.index", source).find(_str("text.index", substr))


@register("text.to_lower", "source")
def _to_lower(rt: Runtime, source: Any) -> str:
    return _str("text.to_lower", source).lower()


@register("text.to_upper", "source")
def _to_upper(rt: Runtime, source: Any) -> str:
    return _str("text.to_upper", source).upper()


@register("text.url_encode", "source")
def _url_encode(rt: Runtime, source: Any) -> str:
    return quote(_str("text.url_encode", source), safe="-_.~")


@register("text.url_encode_plus", "source")
def _url_encode_plus(rt: Runtime, source: Any) -> str:
    return quote_plus(_str("text.url_encode_plus", source), safe="-_.~")


@register("text.url_decode", "source")
def _url_decode(rt: Runtime, source: Any) -> str:
    return unquote(_str("text.url_decode", source).replace("+", " "))
