"""`dayflow local up|down`: the local stand-ins for GCP, on 127.0.0.1 only.

- the BigQuery emulator (local-bigquery), data under `<state_dir>/bigquery`;
- the job-runner (uvicorn), pointed at the emulator and the Workflows engine;
- the ingest path (functions-framework serving the package's functions/ingest_events, and the
  Pub/Sub emulator where installed; without it events are posted straight to the function);
- the domain's own HTTP services that `http` jobs call (dayflow.local.services);
- dayflow's Workflows engine, serving the Executions API (REST and gRPC) and running the YAML in
  the package's `workflows/` with `JOB_RUNNER_URL` set, as infra deploys it;
- the scheduler (dayflow.local.scheduler_server): each pipeline's Cloud Scheduler job, firing
  at the job-runner's /triggers and serving the Cloud Scheduler API that `dayflow schedule` uses.

Their URLs are recorded in `<state_dir>/stack.json`, which the CLI reads.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dayflow.errors import DayflowError
from dayflow.ledger import ensure_table
from dayflow.local.duckdb_extensions import install_extensions
from dayflow.local.functions import start_ingest, stop_ingest
from dayflow.local.health import check_stack
from dayflow.local.process import get_free_port, is_port_open, start_process, stop_process
from dayflow.local.services import get_service_ports, start_service, stop_services
from dayflow.package_files import get_workflows_dir
from dayflow.spec import Spec
from dayflow.spec_datasets import get_all_datasets
from dayflow.spec_domains import get_exposed_tables, get_local_copies
from dayflow.tables import LEDGER
from dayflow.warehouse import make_bigquery_client

LOCAL_PROJECT = "local"
PROCESSES = ("scheduler", "workflows", "job_runner", "bigquery")


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _port(preferred: int) -> int:
    return preferred if not is_port_open(preferred) else get_free_port()


def start_bigquery(state_dir: Path, port: int | None = None) -> str:
    """Start the BigQuery emulator (data under `<state_dir>/bigquery`); return its URL.
    Stop it with `stop_process("bigquery", state_dir)`."""
    install_extensions()
    port, grpc_port = port or _port(9050), get_free_port()
    data_dir = state_dir / "bigquery"
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = start_process(
        "bigquery",
        [_bin("local-bigquery"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--grpc-port", str(grpc_port), "--project", LOCAL_PROJECT, "--data-dir", str(data_dir)],
        port=port,
        state_dir=state_dir,
    )  # fmt: skip
    return proc.url


def start_job_runner(
    spec_path: Path,
    state_dir: Path,
    bigquery_endpoint: str,
    workflows_grpc: str,
    location: str,
    port: int | None = None,
    service_urls: dict[str, str] | None = None,
) -> str:
    port = port or _port(8080)
    proc = start_process(
        "job_runner",
        [sys.executable, "-m", "uvicorn", "job_runner.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        port=port,
        state_dir=state_dir,
        env={
            "JOB_RUNNER_ENV": "local",
            "JOB_RUNNER_LOG_FORMAT": "text",
            "JOB_RUNNER_SPEC_PATH": str(spec_path.resolve()),
            "JOB_RUNNER_BIGQUERY_ENDPOINT": bigquery_endpoint,
            "JOB_RUNNER_WORKFLOWS_ENDPOINT": workflows_grpc,
            "JOB_RUNNER_WORKFLOWS_LOCATION": location,
            "JOB_RUNNER_SERVICE_URLS": json.dumps(service_urls or {}),
        },
    )  # fmt: skip
    return proc.url


def get_history_file(state_dir: Path) -> Path:
    """Where the local Workflows engine keeps its executions across restarts."""
    return state_dir / "workflows" / "executions.jsonl"


def start_workflows(
    state_dir: Path, job_runner_url: str, grpc_port: int, location: str, port: int | None = None
) -> str:
    """Start the Workflows engine on workflows/*.workflows.yaml, with the execution history
    of earlier starts (`get_history_file`); return its REST URL."""
    port = port or _port(8090)
    proc = start_process(
        "workflows",
        [sys.executable, "-m", "dayflow.workflows_engine.server", "--host", "127.0.0.1",
         "--port", str(port), "--grpc-port", str(grpc_port),
         "--workflows-dir", str(get_workflows_dir()), "--env", f"JOB_RUNNER_URL={job_runner_url}",
         "--project", LOCAL_PROJECT, "--location", location,
         "--history-file", str(get_history_file(state_dir))],
        port=port,
        state_dir=state_dir,
    )  # fmt: skip
    return proc.url


def get_scheduler_state_file(state_dir: Path) -> Path:
    """Where the local scheduler keeps its jobs' paused state and last attempts across restarts."""
    return state_dir / "scheduler" / "jobs.json"


def start_scheduler(
    spec_path: Path, state_dir: Path, job_runner_url: str, location: str, port: int | None = None
) -> str:
    """Start the local scheduler on the spec's pipelines; return its REST URL."""
    port = port or _port(8095)
    proc = start_process(
        "scheduler",
        [sys.executable, "-m", "dayflow.local.scheduler_server", "--host", "127.0.0.1",
         "--port", str(port), "--spec", str(spec_path.resolve()),
         "--job-runner-url", job_runner_url, "--state-file",
         str(get_scheduler_state_file(state_dir)), "--project", LOCAL_PROJECT,
         "--location", location],
        port=port,
        state_dir=state_dir,
    )  # fmt: skip
    return proc.url


def create_warehouse(spec: Spec, bigquery_endpoint: str) -> None:
    """Create the spec's datasets, the ledger and the exposed tables in the emulator, as infra
    does in GCP; and the local copies of consumed tables (empty until `dayflow seed`)."""
    environment = spec.get_environment("local")
    with make_bigquery_client(LOCAL_PROJECT, bigquery_endpoint) as client:
        for dataset in get_all_datasets(spec):  # dbt's and Dataform's too, as infra creates
            client.create_dataset(
                f"{LOCAL_PROJECT}.{environment.get_dataset_id(dataset)}", exists_ok=True
            )
        for table in (LEDGER, *get_exposed_tables(spec), *get_local_copies(spec)):
            ensure_table(client, LOCAL_PROJECT, environment.get_dataset_id(table.dataset), table)


def up(
    spec: Spec,
    spec_path: Path,
    state_dir: Path,
    *,
    free_ports: bool = False,
    on_step: Callable[[str], None] = lambda step: None,
) -> dict[str, Any]:
    """Start the local stack (stopping a previous one first); return its URLs.

    Each service takes its usual port (BigQuery 9050, job-runner 8080, Workflows 8090,
    scheduler 8095) when that
    is free, else a free one; with `free_ports`, always a free one (several stacks at once, as
    test sessions start them: two sessions probing the same usual port could both pick it).
    Data of earlier starts (the emulator's tables, the run ledger, Workflows executions) is
    kept (`erase` deletes it). `on_step` is told each step as it begins (for progress).
    """
    down(state_dir)

    def port(preferred: int) -> int:
        return get_free_port() if free_ports else _port(preferred)

    location = spec.get_environment("local").region
    workflows_grpc = f"127.0.0.1:{get_free_port()}"
    bigquery_port, job_runner_port, workflows_port = port(9050), port(8080), port(8090)
    scheduler_port = port(8095)
    bigquery_endpoint = f"http://127.0.0.1:{bigquery_port}"
    job_runner_url = f"http://127.0.0.1:{job_runner_port}"
    service_ports = get_service_ports(spec)
    service_urls = {name: f"http://127.0.0.1:{p}" for name, p in service_ports.items()}
    # The three (and the services http jobs call) start side by side: each learns the others'
    # URLs from the ports chosen above and calls none of them while starting, so `up` waits for
    # the slowest, not for their sum
    # (`dayflow local up` of a scaffolded project on the shared 2-core machine at load 10:
    # median of 3, 17.7 s against 21.9 s in sequence). The warehouse needs only the emulator.
    try:
        on_step("the BigQuery emulator")  # the job-runner and Workflows engine start beside it
        with ThreadPoolExecutor(max_workers=4 + len(service_ports)) as pool:
            started = [
                pool.submit(start_bigquery, state_dir, bigquery_port),
                pool.submit(
                    start_job_runner,
                    spec_path, state_dir, bigquery_endpoint, workflows_grpc, location,
                    job_runner_port, service_urls,
                ),
                pool.submit(
                    start_workflows,
                    state_dir, job_runner_url, int(workflows_grpc.rsplit(":", 1)[1]), location,
                    workflows_port,
                ),
                pool.submit(
                    start_scheduler,
                    spec_path, state_dir, job_runner_url, location, scheduler_port,
                ),
                *(
                    pool.submit(start_service, spec, name, port, state_dir, bigquery_endpoint)
                    for name, port in service_ports.items()
                ),
            ]  # fmt: skip
            started[0].result()
            on_step("datasets and the run ledger")
            create_warehouse(spec, bigquery_endpoint)
            on_step("the job-runner and the Workflows engine")
            workflows_url = started[2].result()
            started[1].result()
            scheduler_url = started[3].result()
            for future in started[4:]:
                future.result()
        ingest = None
        if spec.topics:
            on_step("the ingest function and Pub/Sub")
            ingest = start_ingest(spec, state_dir, bigquery_endpoint)
    except Exception:
        down(state_dir)
        raise
    stack = {
        "spec": str(spec_path.resolve()),
        "bigquery_endpoint": bigquery_endpoint,
        "job_runner_url": job_runner_url,
        "workflows_url": workflows_url,
        "workflows_grpc": workflows_grpc,
        "workflows_location": location,
        "scheduler_url": scheduler_url,
        "services": service_urls,
    }
    if ingest is not None:
        stack["ingest_function_url"] = ingest.function_url
        stack["pubsub"] = ingest.pubsub_host or "absent: events are posted to the function"
        if ingest.notice:
            stack["notice"] = ingest.notice
    (state_dir / "stack.json").write_text(json.dumps(stack, indent=2))
    return stack


def erase(state_dir: Path) -> None:
    """Delete the local stack's data: the emulator's tables, the Workflows executions and the
    scheduler's state."""
    shutil.rmtree(state_dir / "bigquery", ignore_errors=True)
    get_history_file(state_dir).unlink(missing_ok=True)
    get_scheduler_state_file(state_dir).unlink(missing_ok=True)


def down(state_dir: Path) -> list[str]:
    """Stop every local process; return the names of those that were running."""
    stop_ingest(state_dir)
    stopped = [name for name in PROCESSES if stop_process(name, state_dir)]
    stopped += stop_services(state_dir)
    (state_dir / "stack.json").unlink(missing_ok=True)
    return stopped


def get_stack(state_dir: Path) -> dict[str, Any]:
    """The running stack's addresses, once its services answer (else UnavailableError naming
    each dead one, at once: see dayflow.local.health)."""
    path = state_dir / "stack.json"
    if not path.is_file():
        raise DayflowError("the local stack is not running (start it with: dayflow local up)")
    stack: dict[str, Any] = json.loads(path.read_text())
    check_stack(stack)
    return stack
