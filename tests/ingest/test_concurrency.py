"""Thread safety of the ingest function: one lazily created client per instance, concurrent
invocations sharing streaming inserts (group commit), nothing stored twice or lost."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ingestfn.batcher import GroupCommitter
from ingestfn.bigquery import RowRejected
from ingestfn.errors import WriteError
from tests.ingest.ingest_helpers import Tables, binary_event, order, pubsub_message


class SlowInserter:
    """A `RowInserter` standing in for BigQuery: each insert takes `delay` seconds; rows whose
    insertId starts with `bad` are rejected, and the first insert fails when `fail_first`."""

    def __init__(self, delay: float = 0.02, *, fail_first: bool = False) -> None:
        self.delay = delay
        self.fail_first = fail_first
        self.batches: list[list[str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def insert_rows(
        self, dataset: str, table: str, rows: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[RowRejected | None]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            first = not self.batches
            self.batches.append([insert_id for insert_id, _ in rows])
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        if first and self.fail_first:
            raise WriteError("HTTP 503: backend unavailable", transient=True)
        return [RowRejected("invalid") if i.startswith("bad") else None for i, _ in rows]

    def close(self) -> None:
        pass


def insert_concurrently(committer: GroupCommitter, ids: list[str]) -> dict[str, object]:
    def insert(insert_id: str) -> object:
        try:
            return committer.insert(insert_id, {"id": insert_id})
        except WriteError as err:
            return err

    with ThreadPoolExecutor(32) as pool:
        return dict(zip(ids, pool.map(insert, ids), strict=True))


def test_concurrent_rows_share_inserts_and_each_gets_its_own_outcome() -> None:
    inserter = SlowInserter()
    committer = GroupCommitter(inserter, "ingest", "events", max_rows=50)
    ids = [f"bad{i}" if i % 10 == 0 else f"ok{i}" for i in range(400)]

    outcomes = insert_concurrently(committer, ids)

    sent = [insert_id for batch in inserter.batches for insert_id in batch]
    assert sorted(sent) == sorted(ids)  # every row sent exactly once
    assert inserter.max_in_flight == 1  # one insert per table at a time
    assert len(inserter.batches) < len(ids) / 5  # shared: far fewer inserts than rows
    assert max(len(batch) for batch in inserter.batches) <= 50
    assert all(
        outcome == (RowRejected("invalid") if i.startswith("bad") else None)
        for i, outcome in outcomes.items()
    )


def test_failed_insert_raises_in_every_invocation_of_its_batch_only() -> None:
    inserter = SlowInserter(delay=0.05, fail_first=True)
    committer = GroupCommitter(inserter, "ingest", "events")

    outcomes = insert_concurrently(committer, [f"ok{i}" for i in range(100)])

    failed = {i for i, outcome in outcomes.items() if isinstance(outcome, WriteError)}
    assert failed == set(inserter.batches[0])
    assert all(outcomes[i] is None for i in outcomes if i not in failed)
    assert all(outcomes[i].transient for i in failed)  # type: ignore[union-attr]


def test_batches_respect_the_byte_limit() -> None:
    inserter = SlowInserter(delay=0.01)
    committer = GroupCommitter(inserter, "ingest", "events", max_bytes=1000, measure=lambda r: 400)

    insert_concurrently(committer, [f"ok{i}" for i in range(50)])

    assert max(len(batch) for batch in inserter.batches) <= 2


def test_one_ingestor_is_created_for_concurrent_first_events(
    function_client: Any, tables: Tables
) -> None:
    main = sys.modules["main"]
    barrier = threading.Barrier(16)

    def first_call(_: int) -> object:
        barrier.wait()
        return main.get_ingestor()

    with ThreadPoolExecutor(16) as pool:
        ingestors = list(pool.map(first_call, range(16)))

    assert len({id(ingestor) for ingestor in ingestors}) == 1


@pytest.mark.emulator
def test_concurrent_events_are_each_stored_once(function_client: Any, tables: Tables) -> None:
    messages = [pubsub_message(order(i), f"m{i:04d}") for i in range(300)]
    # A tenth are delivered twice, at the same time: redeliveries racing the first delivery.
    deliveries = messages + messages[::10]

    def deliver(message: dict[str, Any]) -> int:
        headers, body = binary_event("orders", message)
        return int(function_client.post("/", headers=headers, data=body).status_code)

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(deliver, deliveries))

    assert set(statuses) == {200}
    stored = [row["message_id"] for row in tables.ingested()]
    assert stored == sorted(m["messageId"] for m in messages)
    assert tables.dead_letters() == []
