"""The one place that maps dayflow errors to HTTP status codes.

- unknown pipeline, job or backfill: 404
- bad input (partition key, range, body): 422, one line naming the value and what was expected
- a permanent BigQuery error: 422 with `error_kind: permanent` (never retried by callers)
- a transient BigQuery error (5xx, 429, aborted transaction): 503 with Retry-After
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from dayflow.errors import NotFoundError, UserError, WarehouseError


def _body(message: str, kind: str) -> dict[str, str]:
    return {"detail": message, "error_kind": kind}


async def _not_found(_: Request, err: Exception) -> JSONResponse:
    return JSONResponse(_body(str(err), "permanent"), status_code=404)


async def _user_error(_: Request, err: Exception) -> JSONResponse:
    return JSONResponse(_body(str(err), "permanent"), status_code=422)


async def _warehouse_error(_: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, WarehouseError)
    if err.transient:
        return JSONResponse(
            _body(str(err), "transient"), status_code=503, headers={"Retry-After": "5"}
        )
    return JSONResponse(_body(str(err), "permanent"), status_code=422)


async def _validation_error(_: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path"))
        got = e.get("input")
        suffix = f" (got {got!r})" if isinstance(got, str | int | float) else ""
        lines.append(f"{loc}: {e['msg']}{suffix}")
    return JSONResponse(_body("; ".join(lines), "permanent"), status_code=422)


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(WarehouseError, _warehouse_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
