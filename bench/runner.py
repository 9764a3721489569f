"""The job-runner under load, as a real uvicorn process over the BigQuery emulator. Prints one
JSON object:

- `healthz_p50_ms`, `healthz_p99_ms`: /healthz latency while 60 runs are in flight;
- `runs_per_second`: 200 concurrent POST /runs over 20 partitions (10 identical requests each,
  as retried deliveries send them), until the ledger shows every run ended; `checksums_exact`:
  their checksums equal those of a clean sequential rerun;
- `peak_rss_mb`: the process's peak resident memory (VmHWM) after serving the largest allowed
  range (JOB_RUNNER_MAX_RANGE_PARTITIONS daily partitions) on plan, status, checksums and a
  dry-run backfill, beside `baseline_rss_mb` before them.

Runs end when the ledger says so (GET /runs polled), so this works whether POST /runs answers
at the end of a run or once it has started.

Usage: python bench/runner.py   (about a minute or two; needs the `local` extra)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "shop"
PIPELINE = "shop_daily"
JOBS = ("stg_orders", "dim_customers", "mart_daily_sales")
# Where the example data lies (examples/shop/transform/seed: 2023-12-31 .. 2024-02-14).
THROUGHPUT_KEYS = [(date(2024, 1, 1) + timedelta(days=i)).isoformat() for i in range(20)]
HEALTH_KEYS = [(date(2024, 1, 21) + timedelta(days=i)).isoformat() for i in range(20)]
MAX_RANGE_PARTITIONS = 3700  # the job-runner's default cap
TERMINAL = {"succeeded", "failed"}


def write_bench_spec(directory: Path) -> Path:
    """The example spec with its own dataset prefix, and a start early enough that the largest
    allowed range is the cap, not the pipeline's age."""
    spec = yaml.safe_load((EXAMPLE / "dayflow.yaml").read_text())
    spec["environments"]["local"]["dataset_prefix"] = f"b{uuid.uuid4().hex[:8]}_"
    spec["pipelines"][PIPELINE]["start"] = "2010-01-01"
    for pipeline in spec["pipelines"].values():
        for job in pipeline["jobs"].values():
            if "sql" in job:
                job["sql"] = str(EXAMPLE / job["sql"])
    for source in spec.get("sources", {}).values():  # seed files, for seed_sources
        for table in (source.get("tables") or {}).values():
            if table.get("seed"):
                table["seed"] = str(EXAMPLE / table["seed"])
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def read_rss_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return fields


def wait_for_runs(http: httpx.Client, keys: list[str], jobs: tuple[str, ...], attempt: int) -> None:
    """Poll the ledger until every (key, job) has ended at `attempt` or later."""
    while True:
        response = http.get(
            "/runs", params={"pipeline": PIPELINE, "start": min(keys), "end": max(keys)}
        )
        response.raise_for_status()
        states = {p["partition_key"]: p["jobs"] for p in response.json()["partitions"]}
        if all(
            (s := states.get(k, {}).get(j)) and s["status"] in TERMINAL and s["attempt"] >= attempt
            for k in keys
            for j in jobs
        ):
            return
        time.sleep(0.2)


def post_runs(http: httpx.Client, bodies: list[dict[str, Any]], workers: int) -> list[int]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda b: http.post("/runs", json=b).status_code, bodies))


def measure_memory(http: httpx.Client, pid: int) -> dict[str, Any]:
    """Serve the largest allowed range on every range endpoint; return the peak RSS."""
    http.get("/healthz").raise_for_status()
    params = {"start": "2024-01-01", "end": "2024-01-02"}
    http.get(f"/pipelines/{PIPELINE}/plan", params=params).raise_for_status()
    baseline = read_rss_mb(pid)
    today = datetime.now(UTC).date()  # at most the partition containing now (Stockholm)
    end = (today - timedelta(days=1)).isoformat()
    start = (today - timedelta(days=MAX_RANGE_PARTITIONS)).isoformat()
    params = {"start": start, "end": end}
    sizes = {}
    for name, call in {
        "plan": lambda: http.get(f"/pipelines/{PIPELINE}/plan", params=params),
        "runs": lambda: http.get("/runs", params={"pipeline": PIPELINE, **params}),
        "checksums": lambda: http.get(f"/pipelines/{PIPELINE}/checksums", params=params),
        "backfill_dry_run": lambda: http.post(
            "/backfills", json={"pipeline": PIPELINE, **params, "dry_run": True}
        ),
    }.items():
        response = call()
        response.raise_for_status()
        sizes[name] = len(response.content)
    too_long = http.get(
        f"/pipelines/{PIPELINE}/plan",
        params={
            "start": (today - timedelta(days=MAX_RANGE_PARTITIONS + 1)).isoformat(),
            "end": end,
        },
    )
    return {
        "largest_range_partitions": MAX_RANGE_PARTITIONS,
        "largest_range_body_bytes": sizes,
        "one_more_partition_status": too_long.status_code,
        "baseline_rss_mb": baseline["VmRSS"],
        "peak_rss_mb": read_rss_mb(pid)["VmHWM"],
    }


def measure_health(http: httpx.Client) -> dict[str, Any]:
    """/healthz latency while 60 runs (20 partitions x 3 jobs) are in flight."""
    bodies = [
        {"pipeline": PIPELINE, "job": j, "partition_key": k, "attempt": 1}
        for k in HEALTH_KEYS
        for j in JOBS
    ]
    posting = threading.Thread(target=post_runs, args=(http, bodies, len(bodies)))
    posting.start()
    while http.get("/stats").json()["runs_in_flight"] < len(bodies) // 2:
        if not posting.is_alive():
            break
        time.sleep(0.05)
    latencies, in_flight = [], []
    with httpx.Client(base_url=str(http.base_url), timeout=300) as probe:
        for _ in range(100):
            started = time.perf_counter()
            probe.get("/healthz").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            in_flight.append(probe.get("/stats").json()["runs_in_flight"])
            if not in_flight[-1]:
                break
    posting.join()
    wait_for_runs(http, HEALTH_KEYS, JOBS, 1)
    latencies.sort()
    return {
        "healthz_samples": len(latencies),
        "healthz_p50_ms": round(statistics.median(latencies), 1),
        "healthz_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "runs_in_flight_while_probing_max": max(in_flight),
    }


def measure_throughput(http: httpx.Client) -> dict[str, Any]:
    """200 concurrent POST /runs over 20 partitions, then checksums against a clean rerun."""
    bodies = [
        {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": k, "attempt": 1}
        for k in THROUGHPUT_KEYS
        for _ in range(10)
    ]
    started = time.perf_counter()
    statuses = post_runs(http, bodies, 200)
    wait_for_runs(http, THROUGHPUT_KEYS, ("stg_orders",), 1)
    elapsed = time.perf_counter() - started
    params = {"start": THROUGHPUT_KEYS[0], "end": THROUGHPUT_KEYS[-1]}
    after_storm = http.get(f"/pipelines/{PIPELINE}/checksums", params=params).json()
    for key in THROUGHPUT_KEYS:  # a clean, sequential rerun of each partition
        body = {"pipeline": PIPELINE, "job": "stg_orders", "partition_key": key, "attempt": 2}
        http.post("/runs", json=body)
    wait_for_runs(http, THROUGHPUT_KEYS, ("stg_orders",), 2)
    clean = http.get(f"/pipelines/{PIPELINE}/checksums", params=params).json()

    def stg(body: dict[str, Any]) -> list[tuple[int, str]]:
        return [(p["tables"][0]["rows"], p["tables"][0]["fingerprint"]) for p in body["partitions"]]

    return {
        "runs_requested": len(bodies),
        "run_statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "runs_seconds": round(elapsed, 2),
        "runs_per_second": round(len(bodies) / elapsed, 1),
        "checksums_exact": stg(after_storm) == stg(clean) and all(n > 0 for n, _ in stg(clean)),
    }


def main() -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "services")]
    from dayflow.local.process import get_free_port, start_process, stop_process
    from dayflow.local.stack import create_warehouse, start_bigquery
    from dayflow.seed import seed_sources
    from dayflow.spec import load_spec
    from dayflow.warehouse import make_bigquery_client

    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        state = Path(tmp)
        bigquery_url = start_bigquery(state, get_free_port())
        try:
            spec_path = write_bench_spec(state)
            with make_bigquery_client("local", bigquery_url) as client:
                seed_sources(load_spec(spec_path), "local", client)  # raw.orders, raw.customers
            create_warehouse(load_spec(spec_path), bigquery_url)  # datasets, as infra creates
            port = get_free_port()
            proc = start_process(
                "job_runner",
                [sys.executable, "-m", "uvicorn", "job_runner.main:app", "--host", "127.0.0.1",
                 "--port", str(port), "--no-access-log", "--log-level", "warning"],
                port=port,
                state_dir=state,
                env={
                    "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'services'}",
                    "JOB_RUNNER_SPEC_PATH": str(spec_path),
                    "JOB_RUNNER_BIGQUERY_ENDPOINT": bigquery_url,
                    # All 60 health-probe runs execute at once (the run pool's size).
                    "JOB_RUNNER_MAX_CONCURRENT_RUNS": "60",
                },
            )  # fmt: skip
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
                    result = {
                        **measure_memory(http, proc.pid),
                        **measure_health(http),
                        **measure_throughput(http),
                    }
            finally:
                stop_process("job_runner", state)
        finally:
            stop_process("bigquery", state)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
