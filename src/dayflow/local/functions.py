"""The local ingest path: the ingest Cloud Function served by functions-framework, fed by the
Pub/Sub emulator (see `dayflow.local.pubsub`) or, where the emulator is absent, by CloudEvents
posted straight to it (`dayflow publish` does that, and says so).

`start_ingest` and `stop_ingest` are what `dayflow local up` and `local down` call. The chosen
path is recorded in `<state_dir>/ingest.json`, which `dayflow publish` reads.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from dayflow.errors import DayflowError
from dayflow.ingest_config import get_ingest_env, write_ingest_config
from dayflow.local.process import LocalProcess, get_free_port, start_process, stop_process
from dayflow.local.pubsub import (
    BridgeRoute,
    Delivery,
    EmulatorCheck,
    create_topology,
    find_pubsub_emulator,
    get_ingest_subscription,
    get_push_endpoint,
    start_pubsub_emulator,
    start_push_bridge,
    stop_pubsub,
)
from dayflow.package_files import get_ingest_function_dir
from dayflow.spec import Spec
from dayflow.tables import DEAD_LETTER, get_ingest_table

FUNCTION_PROCESS = "ingest-function"
INGEST_FUNCTION_DIR = get_ingest_function_dir()
INGEST_TARGET = "ingest_event"
STATE_FILE = "ingest.json"
# functions-framework serves one process with THREADS threads (default 4 per core). Concurrent
# deliveries share streaming inserts (functions/ingest_events/ingestfn/batcher.py), so more
# threads make bigger inserts.
DEFAULT_THREADS = 64

IngestMode = Literal["pubsub", "direct"]


@dataclass(frozen=True, slots=True)
class IngestState:
    """How events reach the local ingest function (stored in `<state_dir>/ingest.json`)."""

    mode: IngestMode
    project: str
    function_url: str
    bigquery_endpoint: str
    pubsub_host: str | None = None
    delivery: Delivery | None = None
    # What the push bridge prepends to the emulator's message ids (see PushBridge).
    message_id_prefix: str = ""
    notice: str | None = None


def get_functions_framework_argv() -> list[str]:
    """The functions-framework command of the running interpreter's environment."""
    script = Path(sys.executable).parent / "functions-framework"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "functions_framework"]


def serve_function(
    state_dir: Path,
    env: dict[str, str],
    *,
    name: str = FUNCTION_PROCESS,
    source: Path = INGEST_FUNCTION_DIR / "main.py",
    target: str = INGEST_TARGET,
    port: int | None = None,
    threads: int = DEFAULT_THREADS,
) -> LocalProcess:
    """Start `target` of `source` with functions-framework on 127.0.0.1; wait until it listens.

    Args:
        state_dir: Where the pid file and log go.
        env: Environment variables of the function (see `dayflow.ingest_config.get_ingest_env`).
        name: The process name in the state directory.
        source: The function's main.py.
        target: The function's name in `source`.
        port: The port to serve on; a free one by default.
        threads: Request threads of the single worker process.
    """
    port = port or get_free_port()
    argv = [
        *get_functions_framework_argv(),
        "--target",
        target,
        "--source",
        str(source),
        "--signature-type",
        "cloudevent",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return start_process(
        name, argv, port=port, state_dir=state_dir, env={**env, "THREADS": str(threads)}
    )


def ensure_ingest_tables(spec: Spec, bigquery_endpoint: str, env: str = "local") -> None:
    """Create the ingest table of every topic and the dead-letter table, if missing."""
    from dayflow.ledger import ensure_table
    from dayflow.warehouse import make_bigquery_client

    environment = spec.get_environment(env)
    project = environment.gcp_project
    client = make_bigquery_client(project, bigquery_endpoint)
    try:
        for name, topic in spec.topics.items():
            dataset = environment.get_dataset_id(topic.ingest_dataset)
            ensure_table(client, project, dataset, get_ingest_table(name, dataset))
        dataset = environment.get_dataset_id(DEAD_LETTER.dataset)
        ensure_table(client, project, dataset, DEAD_LETTER._replace(dataset=dataset))
    finally:
        client.close()  # type: ignore[no-untyped-call]


def start_ingest(
    spec: Spec,
    state_dir: Path,
    bigquery_endpoint: str,
    *,
    use_emulator: bool | None = None,
    delivery: Delivery = "bridge",
) -> IngestState:
    """Start the local ingest path: tables, the function, and the Pub/Sub emulator if present.

    Args:
        spec: The loaded spec; its topics are created.
        state_dir: The local stack's state directory (pid files, logs, `ingest.json`).
        bigquery_endpoint: The local BigQuery's base URL, e.g. `http://127.0.0.1:9050`.
        use_emulator: None to use the Pub/Sub emulator when found; False to post CloudEvents
            straight to the function; True to require the emulator.
        delivery: How subscriptions reach the function (see `dayflow.local.pubsub`).

    Returns:
        The recorded `IngestState`. Its `notice`, when set, says that the emulator is absent
        and events go straight to the function: print it (once).
    """
    env = "local"
    project = spec.get_environment(env).gcp_project
    ensure_ingest_tables(spec, bigquery_endpoint, env)
    config_file = write_ingest_config(spec, env, state_dir / "ingest_config.json")
    function = serve_function(
        state_dir,
        {
            **get_ingest_env(
                spec, env, config_file=config_file, bigquery_endpoint=bigquery_endpoint
            ),
            "INGEST_LOG_FORMAT": "text",  # readable lines in the local log file
        },
    )
    try:
        state = _start_delivery(
            spec, state_dir, project, function.url, bigquery_endpoint, use_emulator, delivery
        )
    except BaseException:  # leave nothing half-started
        stop_pubsub(state_dir)
        stop_process(FUNCTION_PROCESS, state_dir)
        raise
    (state_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")
    return state


def _start_delivery(
    spec: Spec,
    state_dir: Path,
    project: str,
    function_url: str,
    bigquery_endpoint: str,
    use_emulator: bool | None,
    delivery: Delivery,
) -> IngestState:
    """Start the emulator and its delivery to the function, or choose direct posts."""
    check = find_pubsub_emulator() if use_emulator is not False else EmulatorCheck(False)
    if use_emulator and not check.available:
        raise DayflowError(f"the Pub/Sub emulator is required but {check.reason}")
    if check.available:
        emulator = start_pubsub_emulator(state_dir, check)
        host = f"127.0.0.1:{emulator.port}"
        create_topology(host, project, spec.topics, function_url, delivery=delivery)
        prefix = ""
        if delivery == "bridge":
            routes = [
                BridgeRoute(
                    get_ingest_subscription(topic), get_push_endpoint(function_url, project, topic)
                )
                for topic in spec.topics
            ]
            prefix = f"{time.time_ns() // 1_000_000:x}-"  # this emulator's start, in ms
            start_push_bridge(state_dir, host, project, routes, message_id_prefix=prefix)
        return IngestState(
            "pubsub",
            project,
            function_url,
            bigquery_endpoint,
            host,
            delivery=delivery,
            message_id_prefix=prefix,
        )
    why = check.reason or "turned off"
    notice = (
        f"Pub/Sub emulator not used ({why}): `dayflow publish` posts CloudEvents "
        f"straight to the ingest function at {function_url}"
    )
    return IngestState("direct", project, function_url, bigquery_endpoint, notice=notice)


def get_ingest_state(state_dir: Path) -> IngestState | None:
    """The running local ingest path, or None when `start_ingest` has not run."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    return IngestState(**json.loads(path.read_text()))


def stop_ingest(state_dir: Path) -> None:
    """Stop the push bridge, the Pub/Sub emulator and the function; forget the ingest path."""
    stop_pubsub(state_dir)
    stop_process(FUNCTION_PROCESS, state_dir)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
