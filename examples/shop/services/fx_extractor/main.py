"""fx_extractor: the shop's FX rates extractor, a small FastAPI service that dayflow's `http`
job `extract_fx_rates` calls once per partition (see the README's "The http kind").

POST /extract with dayflow's partition body: it generates the day's rates (rates.py) and
replaces exactly that day's partition of the destination table that the spec declares
(warehouse.py), then answers `{"rows_written": N}`. A bad body gets 422 with one line saying
what was wrong; BigQuery being unavailable gets 503 (dayflow retries); a missing dataset 422.

Serve it locally with `dayflow local up` (the spec's `services.fx_extractor.local.command`); in
GCP deploy it as the private Cloud Run service `fx-extractor` (Dockerfile beside this file).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .rates import get_daily_rates
from .warehouse import DestinationError, TransientWriteError, get_client, replace_partition

_log = logging.getLogger("fx_extractor")
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")]

app = FastAPI(title="fx_extractor", version="1")


class Destination(BaseModel):
    model_config = ConfigDict(extra="ignore")

    project: str = Field(pattern=r"^[a-z][a-z0-9-]{3,29}$|^local$")
    dataset: Identifier
    table: Identifier
    partition_field: Identifier


class ExtractRequest(BaseModel):
    """dayflow's http job body; fields this service does not use are ignored."""

    model_config = ConfigDict(extra="ignore")

    pipeline: str
    job: str
    partition_key: str
    attempt: int = Field(ge=1)
    run_id: str
    destination: Destination

    @field_validator("partition_key")
    @classmethod
    def _daily(cls, value: str) -> str:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"expected a day YYYY-MM-DD (rates are daily), got {value!r}"
            ) from None
        if len(value) != 10:
            raise ValueError(f"expected a day YYYY-MM-DD (rates are daily), got {value!r}")
        return value


class ExtractResult(BaseModel):
    rows_written: int
    partition_key: str


@app.exception_handler(RequestValidationError)
async def _bad_body(request: Request, err: RequestValidationError) -> JSONResponse:
    """One line naming each bad field, instead of FastAPI's nested list."""
    problems = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"] if p != "body")
        problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}".strip(": "))
    return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


@app.post("/extract", response_model=ExtractResult, responses={422: {}, 503: {}})
def extract(body: ExtractRequest) -> ExtractResult | JSONResponse:
    """Replace the partition's rates in the destination table; answer the rows written."""
    day = date.fromisoformat(body.partition_key)
    dest = body.destination
    table_id = f"{dest.project}.{dest.dataset}.{dest.table}"
    _log.info("run %s: extracting %s into %s", body.run_id, day, table_id)
    try:
        rows = replace_partition(
            get_client(dest.project), table_id, dest.partition_field, get_daily_rates(day)
        )
    except DestinationError as err:
        return JSONResponse({"detail": str(err)}, status_code=422)
    except TransientWriteError as err:
        return JSONResponse({"detail": str(err)}, status_code=503, headers={"Retry-After": "5"})
    return ExtractResult(rows_written=rows, partition_key=body.partition_key)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
