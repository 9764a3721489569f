"""The local ingest path as `dayflow local up` starts it, and `dayflow publish` through it:
the Pub/Sub emulator (push bridge or its own push subscriptions) or, without it, direct posts."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dayflow.local.functions import (
    FUNCTION_PROCESS,
    IngestState,
    get_ingest_state,
    start_ingest,
    stop_ingest,
)
from dayflow.local.process import get_process
from dayflow.local.pubsub import (
    BRIDGE_PROCESS,
    PUBSUB_PROCESS,
    BridgeRoute,
    PushBridge,
    create_topology,
    find_pubsub_emulator,
    make_publisher,
    make_subscriber,
    start_pubsub_emulator,
    stop_pubsub,
)
from dayflow.publish import (
    get_publish_target,
    open_publisher,
    publish_events,
    wait_until_stored,
)
from dayflow.spec import Spec, load_spec
from tests.ingest.ingest_helpers import FakeHttpServer, Tables, order, write_test_spec

pytestmark = pytest.mark.emulator
EMULATOR = find_pubsub_emulator()
needs_pubsub_emulator = pytest.mark.skipif(
    not EMULATOR.available, reason=f"no Pub/Sub emulator here: {EMULATOR.reason}"
)


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    return write_test_spec(tmp_path)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    state.mkdir()
    yield state
    stop_ingest(state)


def events_file(path: Path, count: int, *, bad: int = 0) -> Path:
    lines = [json.dumps(order(i)) for i in range(count)]
    lines += [json.dumps(order(i, status="unknown")) for i in range(bad)]
    path.write_text("\n".join(lines) + "\n")
    return path


def dayflow(spec_path: Path, state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DAYFLOW_SPEC": str(spec_path),
        "DAYFLOW_STATE_DIR": str(state_dir),
        "DAYFLOW_ENV": "local",
        "COLUMNS": "200",
    }
    command = [str(Path(sys.executable).parent / "dayflow"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def tables_of(spec: Spec, bigquery_endpoint: str) -> Tables:
    from dayflow.warehouse import make_bigquery_client

    return Tables(make_bigquery_client("local", bigquery_endpoint), spec)


@needs_pubsub_emulator
def test_publish_goes_through_the_emulator_and_waits_for_storage(
    spec_path: Path, state_dir: Path, bigquery_endpoint: str, tmp_path: Path
) -> None:
    state = start_ingest(load_spec(spec_path), state_dir, bigquery_endpoint)
    assert (state.mode, state.delivery, state.notice) == ("pubsub", "bridge", None)
    assert get_ingest_state(state_dir) == state
    for name in (PUBSUB_PROCESS, BRIDGE_PROCESS, FUNCTION_PROCESS):
        assert get_process(name, state_dir) is not None, name

    result = dayflow(
        spec_path, state_dir, "publish", "orders", "--file",
        str(events_file(tmp_path / "events.jsonl", 40, bad=2)), "--rate", "500", "--wait",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "published 42 events to orders (pubsub)" in result.stdout
    assert "stored: 40 in the ingest table, 2 dead-lettered" in result.stdout
    assert "note" not in result.stdout
    # The emulator counts message ids from 1 at each start: the bridge makes them unique.
    tables = tables_of(load_spec(spec_path), bigquery_endpoint)
    ids = [row["message_id"] for row in tables.ingested()]
    tables.client.close()
    assert len(ids) == 40 and all(i.startswith(state.message_id_prefix) for i in ids)
    assert state.message_id_prefix

    stop_ingest(state_dir)
    assert get_ingest_state(state_dir) is None
    assert all(get_process(n, state_dir) is None for n in (PUBSUB_PROCESS, BRIDGE_PROCESS))


@needs_pubsub_emulator
def test_emulator_push_subscriptions_deliver_to_the_function(
    spec_path: Path, state_dir: Path, bigquery_endpoint: str
) -> None:
    spec = load_spec(spec_path)
    state = start_ingest(spec, state_dir, bigquery_endpoint, delivery="push")
    assert get_process(BRIDGE_PROCESS, state_dir) is None
    target = get_publish_target(spec, "local", state_dir)
    publisher = open_publisher(target)
    try:
        events = [json.dumps(order(i)).encode() for i in range(8)] + [b"{not json"]
        result = publish_events(publisher, "orders", events)
    finally:
        publisher.close()

    counts = wait_until_stored(spec, "local", "orders", result, target, timeout=60)

    assert (counts.ingested, counts.dead_lettered) == (8, 1)
    assert state.delivery == "push"


def test_without_the_emulator_events_are_posted_to_the_function(
    spec_path: Path, state_dir: Path, bigquery_endpoint: str, tmp_path: Path
) -> None:
    state = start_ingest(load_spec(spec_path), state_dir, bigquery_endpoint, use_emulator=False)
    assert state.mode == "direct"
    assert state.notice == (
        "Pub/Sub emulator not used (turned off): `dayflow publish` posts CloudEvents straight "
        f"to the ingest function at {state.function_url}"
    )
    assert get_process(PUBSUB_PROCESS, state_dir) is None

    result = dayflow(
        spec_path, state_dir, "publish", "orders", "--file",
        str(events_file(tmp_path / "events.jsonl", 30, bad=1)), "--wait",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Pub/Sub emulator not used") == 1  # said once, not per event
    assert "published 31 events to orders (direct)" in result.stdout
    assert "stored: 30 in the ingest table, 1 dead-lettered" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["publish", "returns", "--file", "events.jsonl"],
         "error: unknown topic 'returns' (expected one of: orders, customers, things)"),
        (["publish", "orders", "--file", "missing.jsonl"],
         "error: missing.jsonl: file not found (expected a JSONL file of events)"),
        (["publish", "orders", "--file", "bad.jsonl"], "error: bad.jsonl:2: not valid JSON"),
        (["publish", "orders", "--file", "events.jsonl", "--rate", "-1"],
         "error: --rate -1 is not positive (expected events per second)"),
        (["publish", "orders", "--file", "events.jsonl"],
         "error: the local ingest path is not running"),
    ],
)  # fmt: skip
def test_publish_refuses_bad_input_with_one_line(
    spec_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    events_file(tmp_path / "events.jsonl", 1)
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{"a": \n')
    monkeypatch.chdir(tmp_path)

    result = dayflow(spec_path, tmp_path / "no-stack", *args)

    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@needs_pubsub_emulator
def test_message_the_function_keeps_failing_moves_to_the_dead_letter_topic(
    tmp_path: Path,
) -> None:
    """Nothing is lost while BigQuery is down: after 5 failed deliveries Pub/Sub keeps the
    message on the dead-letter topic, in its `-hold` subscription."""
    emulator = start_pubsub_emulator(tmp_path, EMULATOR)
    host = f"127.0.0.1:{emulator.port}"
    with FakeHttpServer(503, {}) as failing_function:
        create_topology(host, "local", ["orders"], failing_function.url)
        bridge = PushBridge(
            host, "local", [BridgeRoute("orders-ingest", f"{failing_function.url}/x")]
        )
        bridge.start()
        publisher = make_publisher(host)
        message_id = publisher.publish(publisher.topic_path("local", "orders"), b"{}").result()
        subscriber = make_subscriber(host)
        try:
            held = pull_one(subscriber, "projects/local/subscriptions/orders-dead-letter-hold")
        finally:
            bridge.stop()
            subscriber.close()
            publisher.transport.close()
            stop_pubsub(tmp_path)
    assert len(failing_function.requests) == 5  # MAX_DELIVERY_ATTEMPTS
    assert bridge.counts == {"acked": 0, "nacked": 5}
    assert held.data == b"{}"
    assert held.attributes["CloudPubSubDeadLetterSourceSubscription"] == "orders-ingest"
    assert message_id


def pull_one(subscriber: Any, subscription: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = subscriber.pull(subscription=subscription, max_messages=1, timeout=5)
        if response.received_messages:
            return response.received_messages[0].message
    raise AssertionError(f"nothing arrived on {subscription} in {timeout} s")


def test_ingest_state_round_trips(tmp_path: Path) -> None:
    state = IngestState("direct", "local", "http://127.0.0.1:1", "http://127.0.0.1:2", notice="n")
    (tmp_path / "ingest.json").write_text(json.dumps(dataclasses.asdict(state)))

    assert get_ingest_state(tmp_path) == state
    assert get_ingest_state(tmp_path / "elsewhere") is None
