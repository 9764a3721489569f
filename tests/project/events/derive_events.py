"""Derive the tests project's events from its seeds: `python tests/project/events/derive_events.py`.

- customers.jsonl: one event per seed customer, equal to the seed row.
- orders.jsonl: one event per seed order, equal to the seed row with `order_ts` as `updated_at`.
  Every 40th order whose seed status is not `placed` is first published as `placed` at
  `order_ts - 20 minutes` (same local day, Europe/Stockholm), then updated to its seed status at
  `order_ts`; every other such pair is written update-first, so the semantic layer has to order
  by event time, not arrival. The latest state per order therefore equals the seed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "seed"
TZ = ZoneInfo("Europe/Stockholm")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def derive_orders() -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    updates = 0
    for number, line in enumerate((SEED / "orders.jsonl").read_text().splitlines()):
        seed = json.loads(line)
        final = {k: v for k, v in seed.items() if k != "order_ts"}
        final["updated_at"] = seed["order_ts"]
        placed_at = parse(seed["order_ts"]) - timedelta(minutes=20)
        same_day = placed_at.astimezone(TZ).date() == parse(seed["order_ts"]).astimezone(TZ).date()
        if number % 40 == 0 and seed["status"] != "placed" and same_day:
            placed = {
                **final,
                "status": "placed",
                "updated_at": placed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            pair = [placed, final] if updates % 2 == 0 else [final, placed]
            events.extend(pair)
            updates += 1
        else:
            events.append(final)
    return events


def write(name: str, rows: list[dict[str, object]]) -> None:
    (HERE / name).write_text("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    write("orders.jsonl", derive_orders())
    write(
        "customers.jsonl",
        [json.loads(line) for line in (SEED / "customers.jsonl").read_text().splitlines()],
    )
