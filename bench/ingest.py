"""Benchmark of event ingestion; prints one JSON object.

- events_per_second: EVENTS events from 16 concurrent publishers, end to end into the local
  BigQuery (through the Pub/Sub emulator and the push bridge where present, else direct
  CloudEvent posts), from the first publish to the last row stored.
- cold_start_seconds: the ingest function's cold start: from starting its functions-framework
  process to the first event stored (the function answers only once the row is in BigQuery).
- bare_cold_start_seconds: the same for a bare functions-framework hello-world CloudEvent
  function, to its first response, measured in the same run.
Cold starts are medians of COLD_RUNS alternating runs. Target: cold <= 2 x bare.

Run: `.venv/bin/python bench/ingest.py` (about a minute; starts its own emulators).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "shop"
sys.path.insert(0, str(ROOT / "src"))

from dayflow.ingest_config import get_ingest_env, write_ingest_config  # noqa: E402
from dayflow.local.functions import (  # noqa: E402
    INGEST_FUNCTION_DIR,
    get_functions_framework_argv,
    start_ingest,
    stop_ingest,
)
from dayflow.local.process import get_free_port, stop_process  # noqa: E402
from dayflow.local.stack import start_bigquery  # noqa: E402
from dayflow.publish import (  # noqa: E402
    get_publish_target,
    make_cloudevent,
    make_pubsub_message,
    open_publisher,
    publish_events,
    wait_until_stored,
)
from dayflow.spec import load_spec  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "8000"))
PUBLISHERS = 16
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
HELLO = """import functions_framework


@functions_framework.cloud_event
def hello(cloud_event):
    return None
"""


def order(i: int) -> bytes:
    return json.dumps(
        {
            "order_id": f"o{i:06d}",
            "customer_id": f"c{i % 60 + 1:03d}",
            "status": "placed",
            "amount": 12.5,
            "currency": "SEK",
            "updated_at": "2024-01-15T10:00:00Z",
        }
    ).encode()


def measure_throughput(spec_path: Path, work: Path, bigquery_url: str) -> tuple[float, str]:
    spec = load_spec(spec_path)
    state_dir = work / "state"
    state_dir.mkdir()
    state = start_ingest(spec, state_dir, bigquery_url)
    try:
        target = get_publish_target(spec, "local", state_dir)
        publisher = open_publisher(target, concurrency=PUBLISHERS)
        shares = [list(range(n, EVENTS, PUBLISHERS)) for n in range(PUBLISHERS)]
        results = []
        lock = threading.Lock()

        def publish_share(share: list[int]) -> None:
            result = publish_events(publisher, "orders", [order(i) for i in share])
            with lock:
                results.append(result)

        threads = [threading.Thread(target=publish_share, args=(s,)) for s in shares]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        publisher.close()
        from dayflow.publish import PublishResult

        everything = PublishResult(
            [mid for r in results for mid in r.message_ids], min(r.started_at for r in results)
        )
        counts = wait_until_stored(spec, "local", "orders", everything, target, timeout=600)
        elapsed = time.perf_counter() - started
        assert counts.ingested == EVENTS, counts
        path = f"pubsub-emulator ({state.delivery})" if state.mode == "pubsub" else "direct"
        return EVENTS / elapsed, path
    finally:
        stop_ingest(state_dir)


def cold_start(
    argv: list[str], env: dict[str, str], port: int, body: tuple[dict[str, str], bytes]
) -> float:
    """Seconds from starting the process to a 2xx answer to the first event."""
    headers, content = body
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with httpx.Client(timeout=30) as client:
            while True:
                try:
                    response = client.post(
                        f"http://127.0.0.1:{port}/", headers=headers, content=content
                    )
                except httpx.TransportError:
                    if proc.poll() is not None:
                        raise RuntimeError(f"{argv} exited with {proc.returncode}") from None
                    time.sleep(0.002)
                    continue
                response.raise_for_status()
                return time.perf_counter() - started
    finally:
        os.killpg(proc.pid, 15)
        proc.wait()


def measure_cold_starts(
    spec_path: Path, work: Path, bigquery_url: str
) -> tuple[float, float, list[float], list[float]]:
    spec = load_spec(spec_path)
    from dayflow.local.functions import ensure_ingest_tables

    ensure_ingest_tables(spec, bigquery_url)
    config = write_ingest_config(spec, "local", work / "ingest_config.json")
    env = get_ingest_env(spec, "local", config_file=config, bigquery_endpoint=bigquery_url)
    hello_dir = work / "hello"
    hello_dir.mkdir()
    (hello_dir / "main.py").write_text(HELLO)
    ours: list[float] = []
    bare: list[float] = []
    for n in range(COLD_RUNS):
        for which in ("bare", "ours"):
            port = get_free_port()
            if which == "bare":
                source, target, run_env = hello_dir / "main.py", "hello", {}
            else:
                source, target, run_env = INGEST_FUNCTION_DIR / "main.py", "ingest_event", env
            argv = [
                *get_functions_framework_argv(),
                "--target", target, "--source", str(source),
                "--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(port),
            ]  # fmt: skip
            message = make_pubsub_message(order(10_000_000 + n))
            seconds = cold_start(argv, run_env, port, make_cloudevent("local", "orders", message))
            (bare if which == "bare" else ours).append(seconds)
    return statistics.median(ours), statistics.median(bare), ours, bare


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dayflow-bench-ingest-"))
    port = get_free_port()
    bigquery_url = start_bigquery(work, port)
    try:
        spec_path = EXAMPLE / "dayflow.yaml"
        cold, bare, cold_runs, bare_runs = measure_cold_starts(spec_path, work, bigquery_url)
        rate, path = measure_throughput(spec_path, work, bigquery_url)
    finally:
        stop_process("bigquery", work)
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "events_per_second": round(rate, 1),
                "cold_start_seconds": round(cold, 3),
                "bare_cold_start_seconds": round(bare, 3),
                "cold_to_bare_ratio": round(cold / bare, 2),
                "target_met": cold <= 2 * bare,
                "events": EVENTS,
                "publishers": PUBLISHERS,
                "path": path,
                "cold_start_runs": [round(s, 3) for s in cold_runs],
                "bare_cold_start_runs": [round(s, 3) for s in bare_runs],
                "cpus": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
