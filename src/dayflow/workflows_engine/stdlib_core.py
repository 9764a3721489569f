"""Standard library: conversions, maps, lists, math, JSON, base64, sys, time, uuid, retry."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import KEY_ERROR, TYPE_ERROR, VALUE_ERROR, WorkflowError, workflow_error
from .library import Runtime, register, register_value
from .values import check_int, extended, is_number, to_json, type_name


def _expect(name: str, value: Any, *types: str) -> None:
    if type_name(value) not in types:
        raise workflow_error(
            TYPE_ERROR, f"{name}: expected {' or '.join(types)}, got {type_name(value)}"
        )


# --- expression helpers ------------------------------------------------------------------


@register("len", "value")
def _len(rt: Runtime, value: Any) -> int:
    _expect("len", value, "string", "bytes", "list", "map")
    return len(value)


@register("keys", "map")
def _keys(rt: Runtime, value: Any) -> list[str]:
    _expect("keys", value, "map")
    # reference/syntax/iteration: "keys() always returns a sorted list".
    return sorted(value)


@register("int", "value")
def _int(rt: Runtime, value: Any) -> int:
    if isinstance(value, str):
        try:
            return check_int(int(value.strip()))
        except ValueError:
            raise workflow_error(VALUE_ERROR, f"int: cannot convert {value!r}") from None
    if is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise workflow_error(VALUE_ERROR, f"int: cannot convert {value}")
        return check_int(int(value))  # doubles are truncated toward zero
    raise workflow_error(TYPE_ERROR, f"int: cannot convert a {type_name(value)}")


@register("double", "value")
def _double(rt: Runtime, value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise workflow_error(VALUE_ERROR, f"double: cannot convert {value!r}") from None
    if is_number(value):
        return float(value)
    raise workflow_error(TYPE_ERROR, f"double: cannot convert a {type_name(value)}")


@register("string", "value")
def _string(rt: Runtime, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if is_number(value):
        return repr(value) if isinstance(value, float) else str(value)
    raise workflow_error(TYPE_ERROR, f"string: cannot convert a {type_name(value)}")


@register("get_type", "value")
def _get_type(rt: Runtime, value: Any) -> str:
    return type_name(value)


# --- map, list, math -------------------------------------------------------------------


@register("map.get", "map", "keys")
def _map_get(rt: Runtime, mapping: Any, keys: Any) -> Any:
    path = keys if isinstance(keys, list) else [keys]
    current = mapping
    for key in path:
        if not isinstance(key, str):
            raise workflow_error(TYPE_ERROR, f"map.get: keys are strings, got {type_name(key)}")
        if current is None:
            return None
        if not isinstance(current, dict):
            raise workflow_error(TYPE_ERROR, f"map.get: expected map, got {type_name(current)}")
        current = current.get(key)
    return current


@register("map.delete", "map", "key")
def _map_delete(rt: Runtime, mapping: Any, key: Any) -> dict[str, Any]:
    _expect("map.delete", mapping, "map")
    return {k: v for k, v in mapping.items() if k != key}


@register("map.merge", "first", "second")
def _map_merge(rt: Runtime, first: Any, second: Any) -> dict[str, Any]:
    _expect("map.merge", first, "map")
    _expect("map.merge", second, "map")
    return {**first, **second}


def _merge_nested(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    merged = dict(first)
    for key, value in second.items():
        old = merged.get(key)
        both_maps = isinstance(old, dict) and isinstance(value, dict)
        merged[key] = _merge_nested(old, value) if both_maps else value  # type: ignore[arg-type]
    return merged


@register("map.merge_nested", "first", "second")
def _map_merge_nested(rt: Runtime, first: Any, second: Any) -> dict[str, Any]:
    _expect("map.merge_nested", first, "map")
    _expect("map.merge_nested", second, "map")
    return _merge_nested(first, second)


@register("list.concat", "objs", "val")
def _list_concat(rt: Runtime, objs: Any, val: Any) -> list[Any]:
    _expect("list.concat", objs, "list")
    return extended(objs, val)


@register("list.prepend", "objs", "val")
def _list_prepend(rt: Runtime, objs: Any, val: Any) -> list[Any]:
    _expect("list.prepend", objs, "list")
    return extended(objs, val, front=True)


def _number(name: str, value: Any) -> int | float:
    if not is_number(value):
        raise workflow_error(TYPE_ERROR, f"{name}: expected a number, got {type_name(value)}")
    return value  # type: ignore[no-any-return]


@register("math.abs", "x")
def _abs(rt: Runtime, x: Any) -> int | float:
    return abs(_number("math.abs", x))


@register("math.floor", "x")
def _floor(rt: Runtime, x: Any) -> int:
    return check_int(math.floor(_number("math.floor", x)))


@register("math.ceil", "x")
def _ceil(rt: Runtime, x: Any) -> int:
    return check_int(math.ceil(_number("math.ceil", x)))


@register("math.max", "x", "y")
def _max(rt: Runtime, x: Any, y: Any) -> int | float:
    return max(_number("math.max", x), _number("math.max", y))


@register("math.min", "x", "y")
def _min(rt: Runtime, x: Any, y: Any) -> int | float:
    return min(_number("math.min", x), _number("math.min", y))


@register("math.sqrt", "x")
def _sqrt(rt: Runtime, x: Any) -> float:
    value = _number("math.sqrt", x)
    if value < 0:
        raise workflow_error(VALUE_ERROR, "math.sqrt: negative argument")
    return math.sqrt(value)


# --- json, base64 --------------------------------------------------------------------


def _indent(indent: Any) -> tuple[str, str] | None:
    """`(prefix, indent)` from the `indent` argument, or None for compact output.

    reference/stdlib/json/encode_to_string: indent is a boolean or a map with optional
    string attributes `prefix` (default "") and `indent` (default four spaces); true is
    an empty map, false is no indentation. Anything else is refused (the docs name no
    error for it; TypeError, as for other arguments of the wrong type).
    """
    if indent is None or indent is False:
        return None
    if indent is True:
        indent = {}
    if not isinstance(indent, dict):
        raise workflow_error(
            TYPE_ERROR,
            f"json.encode: indent must be a boolean or a map with prefix and indent, "
            f"got {type_name(indent)}",
        )
    unknown = sorted(set(indent) - {"prefix", "indent"})
    if unknown:
        raise workflow_error(
            VALUE_ERROR,
            f"json.encode: unknown indent option(s) {unknown} (expected prefix, indent)",
        )
    prefix, step = indent.get("prefix", ""), indent.get("indent", "    ")
    if not isinstance(prefix, str) or not isinstance(step, str):
        raise workflow_error(TYPE_ERROR, "json.encode: indent prefix and indent must be strings")
    return prefix, step


@register("json.encode_to_string", "data", "indent", defaults=(None,))
def _json_encode_to_string(rt: Runtime, data: Any, indent: Any) -> str:
    options = _indent(indent)
    try:
        compact = to_json(data, what="json.encode argument")
    except WorkflowError as err:
        # reference/stdlib/json/encode_to_string, "Raised exceptions": ValueError "if the
        # input contains types that cannot be JSON-encoded" (bytes, functions).
        raise workflow_error(VALUE_ERROR, str(err.payload["message"])) from None
    if options is None:
        return compact
    prefix, step = options
    # Each element on a new line starting with `prefix`, then one `indent` per nesting
    # level; the first line carries no prefix (it does not begin on a new line).
    lines = json.dumps(json.loads(compact), indent=step, ensure_ascii=False).split("\n")
    return "\n".join([lines[0], *(prefix + line for line in lines[1:])])


@register("json.encode", "data", "indent", defaults=(None,))
def _json_encode(rt: Runtime, data: Any, indent: Any) -> bytes:
    """reference/stdlib/json/encode: as encode_to_string, UTF-8 bytes."""
    return _json_encode_to_string(rt, data, indent).encode("utf-8")


@register("json.decode", "data")
def _json_decode(rt: Runtime, data: Any) -> Any:
    _expect("json.decode", data, "bytes", "string")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise workflow_error(VALUE_ERROR, f"json.decode: invalid JSON: {err}") from None


@register("base64.encode", "data", "padding", defaults=(True,))
def _b64encode(rt: Runtime, data: Any, padding: Any) -> str:
    _expect("base64.encode", data, "bytes")
    encoded = base64.b64encode(data).decode("ascii")
    return encoded if padding else encoded.rstrip("=")


@register("base64.decode", "data", "padding", defaults=(True,))
def _b64decode(rt: Runtime, data: Any, padding: Any) -> bytes:
    _expect("base64.decode", data, "string")
    text = data if padding else data + "=" * (-len(data) % 4)
    try:
        decoded: bytes = base64.b64decode(text, validate=True)
        return decoded
    except (binascii.Error, ValueError) as err:
        raise workflow_error(VALUE_ERROR, f"base64.decode: {err}") from None


# --- sys -------------------------------------------------------------------------------


@register("sys.get_env", "name", "default", defaults=(None,))
def _get_env(rt: Runtime, name: Any, default: Any) -> Any:
    _expect("sys.get_env", name, "string")
    if default is not None:
        _expect("sys.get_env", default, "string")
    return rt.env.get(name, default)


@register("sys.now")
def _now(rt: Runtime) -> float:
    return rt.now().timestamp()


@register("sys.sleep", "seconds", blocking=True)
def _sleep(rt: Runtime, seconds: Any) -> None:
    if not is_number(seconds) or seconds < 0:
        raise workflow_error(VALUE_ERROR, f"sys.sleep: seconds must be >= 0, got {seconds!r}")
    rt.sleep(float(seconds))


@register("sys.sleep_until", "time", blocking=True)
def _sleep_until(rt: Runtime, until: Any) -> None:
    target = _parse_time(until)
    rt.sleep(max(0.0, target - rt.now().timestamp()))


_SEVERITIES = {"DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"}


@register(
    "sys.log",
    "data",
    "severity",
    "text",
    "json",
    "timeout",
    defaults=(None, "DEFAULT", None, None, None),
    blocking=True,
)
def _log(rt: Runtime, data: Any, severity: Any, text: Any, json_: Any, timeout: Any) -> None:
    if severity not in _SEVERITIES | {"EMERGENCY"}:
        raise workflow_error(VALUE_ERROR, f"sys.log: unknown severity {severity!r}")
    given = [v for v in (data, text, json_) if v is not None]
    if len(given) > 1:
        raise workflow_error(VALUE_ERROR, "sys.log: give only one of data, text, json")
    rt.log(str(severity), given[0] if given else None)


# --- time ------------------------------------------------------------------------------


def _zone(timezone: Any) -> Any:
    if not isinstance(timezone, str):
        raise workflow_error(TYPE_ERROR, "time.format: timezone must be a string")
    if timezone in ("UTC", "Etc/UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise workflow_error(VALUE_ERROR, f"unknown timezone {timezone!r}") from None


@register("time.format", "seconds", "timezone", defaults=("Etc/UTC",))
def _time_format(rt: Runtime, seconds: Any, timezone: Any) -> str:
    moment = datetime.fromtimestamp(float(_number("time.format", seconds)), _zone(timezone))
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if moment.utcoffset() == UTC.utcoffset(None) else text


def _parse_time(value: Any) -> float:
    if not isinstance(value, str):
        raise workflow_error(TYPE_ERROR, f"time.parse: expected string, got {type_name(value)}")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise workflow_error(VALUE_ERROR, f"time.parse: not an RFC 3339 time: {value!r}") from None
    if moment.tzinfo is None:
        raise workflow_error(VALUE_ERROR, f"time.parse: time has no offset: {value!r}")
    return moment.timestamp()


@register("time.parse", "value")
def _time_parse(rt: Runtime, value: Any) -> float:
    return _parse_time(value)


@register("uuid.generate")
def _uuid(rt: Runtime) -> str:
    return str(uuid.uuid4())


# --- retry predicates and policies -------------------------------------------------------


@register("retry.always", "e")
def _always(rt: Runtime, e: Any) -> bool:
    return True


@register("retry.never", "e")
def _never(rt: Runtime, e: Any) -> bool:
    return False


register_value("retry.default_backoff")


def error_tags(e: Any) -> list[Any]:
    if isinstance(e, dict) and isinstance(e.get("tags"), list):
        return list(e["tags"])
    return []


def require_key(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise workflow_error(KEY_ERROR, f"{where}: missing key {key}")
    return mapping[key]
