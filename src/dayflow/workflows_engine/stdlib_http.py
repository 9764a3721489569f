"""Standard library `http.*`: requests through the engine's injectable httpx client.

Response map: `{code, headers, body}`; JSON bodies are decoded, `text/*` bodies become
strings, anything else stays bytes. A non-2xx status raises `HttpError` carrying the same
`code`, `headers` and `body`. Transport failures map to Workflows tags: no connection
established (refused, DNS failure) -> `ConnectionFailedError` only, a transfer broken after
the connection was made -> `ConnectionError`, a timeout -> `TimeoutError`
(reference/syntax/error-types). A refused connection is not also tagged `ConnectionError`:
a workflow testing `'ConnectionError' in e.tags` for it would pass here and fail in GCP.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import (
    CONNECTION_ERROR,
    CONNECTION_FAILED_ERROR,
    HTTP_ERROR,
    RESOURCE_LIMIT_ERROR,
    TIMEOUT_ERROR,
    TYPE_ERROR,
    VALUE_ERROR,
    workflow_error,
)
from .library import Runtime, register, register_value
from .stdlib_core import error_tags
from .values import is_number, to_json, type_name

DEFAULT_TIMEOUT_SECONDS = 300.0
_PARAMS = ("url", "headers", "query", "body", "timeout", "auth", "private_service_name")
_DEFAULTS = (None, None, None, None, None, None)
_AUTH_KEYS = {"OIDC": {"type", "audience"}, "OAuth2": {"type", "scopes", "scope"}}


def _validate_auth(auth: Any) -> None:
    """Check `auth` as Workflows does; locally no token is attached."""
    if auth is None:
        return
    if not isinstance(auth, dict) or auth.get("type") not in _AUTH_KEYS:
        raise workflow_error(
            VALUE_ERROR, f"http: auth must be a map with type OIDC or OAuth2, got {auth!r}"
        )
    unknown = set(auth) - _AUTH_KEYS[auth["type"]]
    if unknown:
        raise workflow_error(
            VALUE_ERROR, f"http: unexpected auth key(s) {sorted(unknown)} for {auth['type']}"
        )


def _timeout(rt: Runtime, timeout: Any) -> float:
    if timeout is None:
        return DEFAULT_TIMEOUT_SECONDS
    if not is_number(timeout) or timeout <= 0:
        raise workflow_error(VALUE_ERROR, f"http: timeout must be a positive number: {timeout!r}")
    if timeout > rt.limits.max_http_timeout_seconds:
        raise workflow_error(
            VALUE_ERROR,
            f"http: timeout {timeout} exceeds the maximum of "
            f"{rt.limits.max_http_timeout_seconds:g} seconds",
        )
    return float(timeout)


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is None:
        headers["Content-Type"] = "application/json"
        content_type = "application/json"
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded" and isinstance(body, dict):
        form = {k: v if isinstance(v, str) else to_json(v) for k, v in body.items()}
        return urlencode(form).encode("ascii")
    if media.startswith("text/") or media == "application/x-www-form-urlencoded":
        if not isinstance(body, str):
            raise workflow_error(TYPE_ERROR, f"http: a {media} body must be a string")
        return body.encode("utf-8")
    return to_json(body, what="http request body").encode("utf-8")


def _decode_body(content: bytes, content_type: str | None) -> Any:
    if not content:
        return None if content_type is None else ""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(content)
        except ValueError:
            return content.decode("utf-8", errors="replace")
    if media.startswith("text/") or media in ("application/xml", "application/javascript"):
        return content.decode("utf-8", errors="replace")
    return content


def _string_map(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise workflow_error(TYPE_ERROR, f"http: {name} must be a map, got {type_name(value)}")
    return value


def _query(query: Any) -> list[tuple[str, str | int | float | bool | None]]:
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in _string_map("query", query).items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, item if isinstance(item, str) else to_json(item)))
    return pairs


def request(
    rt: Runtime,
    method: Any,
    url: Any,
    headers: Any = None,
    query: Any = None,
    body: Any = None,
    timeout: Any = None,
    auth: Any = None,
    private_service_name: Any = None,
) -> dict[str, Any]:
    """Perform one HTTP request the way `http.request` does."""
    if not isinstance(method, str) or not method:
        raise workflow_error(TYPE_ERROR, "http.request: method must be a string")
    if not isinstance(url, str) or not url:
        raise workflow_error(TYPE_ERROR, "http: url must be a non-empty string")
    if private_service_name is not None:
        raise workflow_error(VALUE_ERROR, "http: private_service_name is not supported locally")
    _validate_auth(auth)
    seconds = _timeout(rt, timeout)
    out_headers = {
        k: v if isinstance(v, str) else to_json(v)
        for k, v in _string_map("headers", headers).items()
    }
    content = _encode_body(body, out_headers)
    limit = rt.limits.max_http_response_bytes
    try:
        with rt.http_client.stream(
            method.upper(),
            url,
            params=_query(query) or None,
            headers=out_headers,
            content=content,
            timeout=seconds,
            follow_redirects=True,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise workflow_error(
                        RESOURCE_LIMIT_ERROR,
                        f"HTTP response exceeded the limit of {limit} bytes",
                    )
                chunks.append(chunk)
    except httpx.InvalidURL as err:
        raise workflow_error(VALUE_ERROR, f"http: invalid url {url!r}: {err}") from None
    except httpx.UnsupportedProtocol as err:
        raise workflow_error(VALUE_ERROR, f"http: invalid url {url!r}: {err}") from None
    except httpx.TimeoutException as err:
        raise workflow_error(TIMEOUT_ERROR, f"http: request to {url} timed out: {err}") from None
    except httpx.ConnectError as err:
        raise workflow_error(
            CONNECTION_FAILED_ERROR, f"http: could not connect to {url}: {err}"
        ) from None
    except httpx.TransportError as err:
        raise workflow_error(CONNECTION_ERROR, f"http: connection to {url} failed: {err}") from None
    body_value = _decode_body(b"".join(chunks), response.headers.get("content-type"))
    result = {
        "code": response.status_code,
        "headers": dict(response.headers.items()),
        "body": body_value,
    }
    if not 200 <= response.status_code < 300:
        raise workflow_error(
            HTTP_ERROR,
            f"HTTP server responded with error code {response.status_code}",
            **result,
        )
    return result


def _method(verb: str) -> None:
    def impl(rt: Runtime, *args: Any) -> dict[str, Any]:
        return request(rt, verb, *args)

    register(f"http.{verb.lower()}", *_PARAMS, defaults=_DEFAULTS, blocking=True)(impl)


for _verb in ("GET", "POST", "PUT", "PATCH", "DELETE"):
    _method(_verb)


@register("http.request", "method", *_PARAMS, defaults=_DEFAULTS, blocking=True)
def _request(rt: Runtime, *args: Any) -> dict[str, Any]:
    return request(rt, *args)


# Predicates documented in reference/stdlib/http/default_retry_predicate(_non_idempotent).
_RETRY_CODES = frozenset({429, 502, 503, 504})
_RETRY_CODES_NON_IDEMPOTENT = frozenset({429, 503})


@register("http.default_retry_predicate", "e")
def default_retry_predicate(rt: Runtime, e: Any) -> bool:
    tags = error_tags(e)
    if any(t in tags for t in (CONNECTION_ERROR, CONNECTION_FAILED_ERROR, TIMEOUT_ERROR)):
        return True
    return HTTP_ERROR in tags and isinstance(e, dict) and e.get("code") in _RETRY_CODES


@register("http.default_retry_predicate_non_idempotent", "e")
def default_retry_predicate_non_idempotent(rt: Runtime, e: Any) -> bool:
    tags = error_tags(e)
    if CONNECTION_FAILED_ERROR in tags:
        return True
    return (
        HTTP_ERROR in tags and isinstance(e, dict) and e.get("code") in _RETRY_CODES_NON_IDEMPOTENT
    )


register_value("http.default_retry")
register_value("http.default_retry_non_idempotent")
