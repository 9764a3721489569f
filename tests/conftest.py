"""Shared fixtures: one BigQuery emulator per test session, seeded with the tests project."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.local.process import get_free_port, stop_process
from dayflow.local.stack import start_bigquery

# pytester: tests/testing/ runs pytest sessions of its own to test the dayflow.testing plugin.
# The dayflow.testing plugin itself is registered by the installed package's pytest11 entry
# point; it is loaded here only when that is missing (dayflow run from a source tree, or an
# editable install made before the plugin existed): registering it twice is an error.
pytest_plugins = [
    "pytester",
    *(() if entry_points(group="pytest11", name="dayflow") else ("dayflow.testing.plugin",)),
]

ROOT = Path(__file__).resolve().parents[1]
# The tests' own project (tests/project): the spec, SQL, seeds, events, transforms and Pulumi
# stacks the toolkit's tests exercise; never the example project, a user's project that changes.
PROJECT = ROOT / "tests" / "project"


# The files that take longest, started first. `make test` runs pytest-xdist with `--dist loadfile
# --no-loadscope-reorder`: whole files go to the workers in collection order, so a slow file
# collected last runs alone at the end while the other worker idles (xdist's default order, most
# tests first, put the wheel test, 5 tests taking minutes, last of all). Longest first, by each
# file's total of `pytest -n 2 --dist loadfile --durations=60` (a full run); the rest keep their
# collection order.
SLOW_FILES = (
    "tests/workflows/test_backfill.py",
    "tests/transforms/test_dbt.py",
    "tests/test_wheel.py",
    "examples/shop/tests/test_shop.py",
    "tests/dependencies/test_upstream_waiting.py",
    "tests/ingest/test_reliability.py",
    "tests/cli/test_backfill_commands.py",
    "tests/transforms/test_marts.py",
    "tests/testing/test_plugin.py",
    "tests/transforms/test_dataform.py",
    "tests/ingest/test_local_ingest.py",
    "tests/iam/test_iam_contract.py",
    "tests/cli/test_cli_local_stack.py",
    "tests/ui/test_status_page_browser.py",
    "tests/cli/test_schedule_commands.py",
    "tests/job_runner/test_responsiveness.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slow files first (SLOW_FILES); a stable sort keeps every other order."""
    rank = {path: number for number, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(SLOW_FILES)))


def load_project_data(bigquery_endpoint: str) -> dict[str, int]:
    """Seed the tests project's source tables (raw.orders, raw.customers) into an emulator."""
    from dayflow.seed import seed_sources
    from dayflow.spec import load_spec
    from dayflow.warehouse import make_bigquery_client

    spec = load_spec(PROJECT / "dayflow.yaml")
    with make_bigquery_client(
        spec.get_environment("local").gcp_project, bigquery_endpoint
    ) as client:
        return seed_sources(spec, "local", client)


@pytest.fixture(scope="session")
def bigquery_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local-bigquery emulator on 127.0.0.1, with raw.orders and raw.customers seeded."""
    state = tmp_path_factory.mktemp("bigquery")
    port = get_free_port()
    bigquery_url = start_bigquery(state, port)
    load_project_data(bigquery_url)
    _SESSION_DATASETS[bigquery_url] = _list_datasets(bigquery_url)
    yield bigquery_url
    _SESSION_DATASETS.pop(bigquery_url)
    stop_process("bigquery", state)


# The session emulator's datasets that outlive every module (raw, seeded above), by its URL.
_SESSION_DATASETS: dict[str, set[str]] = {}


@pytest.fixture(autouse=True, scope="module")
def _drop_module_datasets() -> Iterator[None]:
    """Drop what a module created on the session's emulator when the module ends.

    Every query of local-bigquery slows with the size of its catalog (`select 1`: 0.11 s with one
    dataset, 1.16 s with 120 datasets of 4 tables each), and each test writes its own datasets
    (`write_spec` gives it a prefix): kept, they made the last modules of a run several times
    slower than the first. (Autouse and module-scoped: set up first, so torn down last, after the
    module's own fixtures.)
    """
    yield
    for url, keep in _SESSION_DATASETS.items():
        from dayflow.warehouse import make_bigquery_client

        with make_bigquery_client("local", url) as client:
            for dataset in set(_list_datasets(url)) - keep:
                client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)


def _list_datasets(url: str) -> set[str]:
    from dayflow.warehouse import make_bigquery_client

    with make_bigquery_client("local", url) as client:
        return {d.dataset_id for d in client.list_datasets()}


def read_project_spec() -> dict[str, Any]:
    """The tests project's spec as a dict, its files (SQL, seeds) named by absolute path, so that a copy
    written anywhere else still finds them."""
    spec: dict[str, Any] = yaml.safe_load((PROJECT / "dayflow.yaml").read_text())
    for pipeline in spec["pipelines"].values():
        for job in pipeline["jobs"].values():
            if "sql" in job:
                job["sql"] = str(PROJECT / job["sql"])
    for source in spec.get("sources", {}).values():
        for table in (source.get("tables") or {}).values():
            if table.get("seed"):
                table["seed"] = str(PROJECT / table["seed"])
    return spec


def write_spec(tmp_path: Path, **local_env: object) -> Path:
    """A copy of the tests project's spec whose local environment has its own dataset prefix."""
    spec = read_project_spec()
    spec["environments"]["local"].update(
        {"dataset_prefix": f"t{uuid.uuid4().hex[:8]}_", **local_env}
    )
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


class Server:
    """A real uvicorn server for an ASGI app, on 127.0.0.1 in a background thread."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = get_free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def job_runner(tmp_path: Path, bigquery_endpoint: str) -> Iterator[Server]:
    """The real job-runner app on a free port, over the tests project's spec with fresh datasets."""
    from dayflow.local.stack import create_warehouse
    from dayflow.spec import load_spec
    from job_runner.core.config import JobRunnerSettings
    from job_runner.main import create_app

    spec_path = write_spec(tmp_path)
    # Datasets belong to infra (`dayflow local up` here): the job-runner never creates one.
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    settings = JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint)
    with Server(create_app(settings)) as server:
        yield server
