"""The event files of the example (examples/shop/transform/events, which `make demo` publishes)
and of the tests project (tests/project/events) are valid for their spec and, deduplicated to the
latest state per key, equal the seeds that the batch pipeline reads."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dayflow.ingest_config import build_ingest_config
from dayflow.spec import load_spec
from ingestfn.errors import Rejection
from ingestfn.settings import parse_config
from ingestfn.validation import check_schema, parse_json
from tests.conftest import PROJECT, ROOT

EXAMPLE = ROOT / "examples" / "shop"


@dataclass(frozen=True)
class EventFiles:
    """A project's spec, event files and seed files."""

    spec: Path
    events: Path
    seed: Path


@pytest.fixture(
    params=[
        EventFiles(
            EXAMPLE / "dayflow.yaml", EXAMPLE / "transform/events", EXAMPLE / "transform/seed"
        ),
        EventFiles(PROJECT / "dayflow.yaml", PROJECT / "events", PROJECT / "seed"),
    ],
    ids=["example", "tests-project"],
)
def files(request: pytest.FixtureRequest) -> EventFiles:
    return request.param  # type: ignore[no-any-return]


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("topic", ["orders", "customers"])
def test_every_demo_event_passes_the_function_validation(files: EventFiles, topic: str) -> None:
    config = parse_config(build_ingest_config(load_spec(files.spec), "local"))
    schema = config.topics[topic]
    problems = []
    for number, line in enumerate((files.events / f"{topic}.jsonl").read_text().splitlines(), 1):
        try:
            check_schema(
                parse_json(line),
                schema,
                now=datetime.now(UTC),
                max_ahead=config.max_event_time_ahead,
            )
        except Rejection as err:
            problems.append(f"{topic}.jsonl:{number}: {err}")
    assert problems == []


def test_latest_order_states_are_the_seed_orders(files: EventFiles) -> None:
    events = read(files.events / "orders.jsonl")
    latest: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e["updated_at"]):
        latest[event["order_id"]] = event
    seeds = {row["order_id"]: row for row in read(files.seed / "orders.jsonl")}

    assert latest.keys() == seeds.keys()
    fields = ("customer_id", "status", "amount", "currency")
    assert all([latest[k][f] for f in fields] == [seeds[k][f] for f in fields] for k in seeds)
    assert all(latest[k]["updated_at"] == seeds[k]["order_ts"] for k in seeds)
    updated = len(events) - len(seeds)
    assert updated >= 20  # orders placed first, then paid, shipped or cancelled
    # Some updates come before the event they supersede: order by event time, not arrival.
    position = {id(e): i for i, e in enumerate(events)}
    out_of_order = [
        k for k in seeds
        if (pair := [e for e in events if e["order_id"] == k]) and len(pair) == 2
        and position[id(pair[0])] < position[id(pair[1])]
        and pair[0]["updated_at"] > pair[1]["updated_at"]
    ]  # fmt: skip
    assert len(out_of_order) >= 10


def test_updates_stay_in_the_local_day_of_their_order(files: EventFiles) -> None:
    stockholm = timedelta(hours=1)  # the seed period is in winter time (UTC+1)
    by_order: dict[str, list[str]] = {}
    for event in read(files.events / "orders.jsonl"):
        by_order.setdefault(event["order_id"], []).append(event["updated_at"])
    for times in by_order.values():
        days = {(datetime.fromisoformat(t) + stockholm).date() for t in times}
        assert len(days) == 1


def test_customer_events_are_the_seed_customers(files: EventFiles) -> None:
    assert read(files.events / "customers.jsonl") == read(files.seed / "customers.jsonl")


def test_event_files_are_what_the_derivation_script_writes(files: EventFiles) -> None:
    spec = importlib.util.spec_from_file_location(
        "derive_events", files.events / "derive_events.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.derive_orders() == read(files.events / "orders.jsonl")
