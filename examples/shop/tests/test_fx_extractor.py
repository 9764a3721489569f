"""The shop's FX extractor on its own (no stack): deterministic rates, and one clear 422 for a
bad request before anything is written. Its writes are checked through dayflow in
test_shop.py (reruns and concurrent runs leave staging.fx_rates' checksum unchanged)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from fx_extractor.main import app
from fx_extractor.rates import BASE_LEVELS, get_daily_rates

BODY = {
    "pipeline": "shop_daily",
    "job": "extract_fx_rates",
    "partition_key": "2024-01-05",
    "attempt": 1,
    "run_id": "shop_daily/extract_fx_rates/2024-01-05/1",
    "destination": {
        "project": "local",
        "dataset": "staging",
        "table": "fx_rates",
        "partition_field": "rate_date",
    },
}


@pytest.fixture(scope="module")
def extractor() -> Iterator[httpx.Client]:
    """The extractor under uvicorn on 127.0.0.1, as `dayflow local up` serves it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client
    server.should_exit = True
    thread.join(10)


def test_the_same_day_always_gives_the_same_rates_near_their_level() -> None:
    day = date(2024, 1, 5)
    rates = get_daily_rates(day)
    assert rates == get_daily_rates(day) != get_daily_rates(date(2024, 1, 6))
    assert [r.base_currency for r in rates] == list(BASE_LEVELS)
    assert all(abs(r.rate / BASE_LEVELS[r.base_currency] - 1) <= 0.02 for r in rates)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (
            {"partition_key": "2024-01-05T13"},
            "partition_key: expected a day YYYY-MM-DD (rates are daily), got '2024-01-05T13'",
        ),
        ({"attempt": 0}, "attempt: Input should be greater than or equal to 1"),
        ({"destination": None}, "destination: Input should be a valid dictionary or object"),
        (
            {"destination": {**BODY["destination"], "table": "fx; DROP"}},  # type: ignore[dict-item]
            "destination.table: String should match pattern '^[A-Za-z_][A-Za-z0-9_]{0,299}$'",
        ),
    ],
)
def test_a_bad_body_is_one_422_line_naming_the_field(
    extractor: httpx.Client, change: dict[str, object], detail: str
) -> None:
    response = extractor.post("/extract", json={**BODY, **change})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail), response.json()
