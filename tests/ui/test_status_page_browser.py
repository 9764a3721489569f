"""The status page in a real headless Chromium (Debian's chromium + chromium-driver, which
`make browser` installs), driven by Selenium against a real job-runner and the local Workflows
engine running the package's workflows, over the session's BigQuery emulator.

One stack for the module: a two-job daily pipeline (tiny spec in tmp) whose week of March 2024
has six partitions recorded as succeeded in the ledger and one that a real backfill fails
(the job-runner's faults file makes it fail permanently); the tests read the grid, open the
failed run, then fix the cause and re-run the failed partition from the page.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from dayflow.ledger import RunLedger, RunRecord, get_ledger_ref
from dayflow.local.stack import create_warehouse
from dayflow.package_files import get_workflows_dir
from dayflow.spec import load_spec
from dayflow.warehouse import make_bigquery_client
from dayflow.workflows_engine import FakeClock, WorkflowEngine
from dayflow.workflows_engine.grpc_api import start_grpc_server
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server
from tests.ui.browser import Browser, start_browser

LOCATION = "europe-north1"
WEEK = [f"2024-03-{d:02d}" for d in range(4, 11)]
BROKEN = "2024-03-08"
DOCS = Path(__file__).resolve().parents[2] / "docs"
# How long a page may take to show what the work behind it produced: the re-run is one
# partition of two small jobs; the deadline is generous for a loaded 2-core machine.
WORK_SECONDS = 120


@dataclass
class Stack:
    url: str
    faults: Path
    http: httpx.Client
    spec_path: Path
    bigquery_endpoint: str


def write_tiny_spec(directory: Path) -> Path:
    (directory / "load.sql").write_text(
        "SELECT @partition_date AS day, n FROM UNNEST([1, 2, 3]) AS n\n"
    )
    (directory / "report.sql").write_text(
        "SELECT day, COUNT(*) AS n FROM {{ dataset:ui }}.loaded\n"
        "WHERE day = @partition_date GROUP BY day\n"
    )
    spec = {
        "version": 1,
        "name": "uitest",
        "environments": {
            "local": {"gcp_project": "local", "dataset_prefix": f"u{uuid.uuid4().hex[:8]}_"}
        },
        "pipelines": {
            "daily": {
                "granularity": "day",
                "timezone": "UTC",
                "schedule": "0 2 * * *",
                "start": "2024-03-01",
                "alerts": {"freshness": "28h"},
                "jobs": {
                    "load": {"kind": "bigquery_sql", "sql": "load.sql",
                             "destination": {"dataset": "ui", "table": "loaded",
                                             "partition_field": "day"}},
                    "report": {"kind": "bigquery_sql", "sql": "report.sql",
                               "depends_on": ["load"],
                               "destination": {"dataset": "ui", "table": "report",
                                               "partition_field": "day"}},
                },
            }
        },
    }  # fmt: skip
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def record_succeeded_week(spec_path: Path, bigquery_endpoint: str) -> None:
    """Six partitions of the week as succeeded runs, straight into the ledger."""
    spec = load_spec(spec_path)
    environment = spec.get_environment("local")
    with make_bigquery_client("local", bigquery_endpoint) as client:
        ledger = RunLedger(client, get_ledger_ref("local", environment.dataset_prefix))
        ledger.record(*[
            RunRecord("daily", job, key, date.fromisoformat(key), 1, "succeeded",
                      rows_written=3 if job == "load" else 1, duration_seconds=1.5 + i / 10,
                      bigquery_job_id=f"job_{job}_{key}",
                      recorded_at=datetime(2024, 3, 11, 3, i, tzinfo=UTC))
            for i, key in enumerate(k for k in WEEK if k != BROKEN)
            for job in ("load", "report")
        ])  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("ui")
    spec_path = write_tiny_spec(directory)
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    record_succeeded_week(spec_path, bigquery_endpoint)
    faults = directory / "faults.json"
    faults.write_text(json.dumps({"permanent_partitions": [BROKEN]}))
    engine = WorkflowEngine(project="local", location=LOCATION, clock=FakeClock())
    grpc_server, grpc_port = start_grpc_server(engine, "127.0.0.1", 0)
    settings = JobRunnerSettings(
        spec_path=spec_path,
        bigquery_endpoint=bigquery_endpoint,
        workflows_location=LOCATION,
        workflows_endpoint=f"127.0.0.1:{grpc_port}",
        faults_file=faults,
        run_hold_seconds=60,
    )
    try:
        with (
            Server(create_app(settings)) as server,
            httpx.Client(base_url=server.url, timeout=WORK_SECONDS) as http,
        ):
            engine.env["JOB_RUNNER_URL"] = server.url
            engine.deploy_directory(get_workflows_dir())
            # The broken partition fails for real, in a backfill the page then lists.
            started = http.post("/backfills", json={"pipeline": "daily", "start": BROKEN,
                                                    "end": BROKEN})  # fmt: skip
            started.raise_for_status()
            execution = started.json()["execution"]
            wait_until_done(engine, execution)
            yield Stack(server.url, faults, http, spec_path, bigquery_endpoint)
    finally:
        grpc_server.stop(None)
        engine.close()


def wait_until_done(engine: WorkflowEngine, name: str) -> None:
    workflow, execution_id = name.split("/workflows/")[1].split("/executions/")
    deadline = time.monotonic() + WORK_SECONDS
    while not engine.get_execution(workflow, execution_id).done:
        assert time.monotonic() < deadline, f"{name} did not end in {WORK_SECONDS} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with start_browser(tmp_path_factory.mktemp("chromium")) as browser:
        yield browser


def test_the_grid_shows_the_week_coloured_by_status_and_a_screenshot_is_saved(
    stack: Stack, browser: Browser
) -> None:
    browser.open(f"{stack.url}/ui/pipelines/daily?start={WEEK[0]}&end={WEEK[-1]}")

    cells = browser.cells()
    assert sorted({key for key, _ in cells}) == WEEK
    assert cells[(BROKEN, "load")] == "failed"
    assert cells[(BROKEN, "report")] == "missing"  # never ran: its upstream failed
    assert all(s == "succeeded" for (k, _), s in cells.items() if k != BROKEN)
    assert "a1 · 3 rows · 1.5 s" in browser.text("#grid")  # attempt, rows, duration
    DOCS.mkdir(exist_ok=True)
    browser.screenshot(DOCS / "ui-grid.png")
    assert (DOCS / "ui-grid.png").stat().st_size > 10_000


def test_the_pipelines_page_shows_freshness_and_links_the_grid(
    stack: Stack, browser: Browser
) -> None:
    browser.open(f"{stack.url}/ui")

    # March 2024 is long past the 28h limit: the schedule "stopped", the pipeline is stale.
    row = browser.text('#pipelines tr[data-pipeline="daily"]')
    assert "STALE" in row and "no complete partition in the last 7 days (limit 28h)" in row
    browser.click('#pipelines tr[data-pipeline="daily"] a')
    assert browser.wait_for_path("/ui/pipelines/daily")
    assert browser.cells()  # the default range: the newest week, all missing


def test_a_failed_cell_opens_its_run_with_the_error_and_attempts(
    stack: Stack, browser: Browser
) -> None:
    browser.open(f"{stack.url}/ui/pipelines/daily?start={WEEK[0]}&end={WEEK[-1]}")

    browser.click(f'td[data-partition="{BROKEN}"][data-job="load"] a')

    assert browser.wait_for_path(f"/ui/runs/daily/load/{BROKEN}")
    assert f"injected permanent failure for partition {BROKEN}" in browser.text("pre.error")
    assert "Attempt 1" in browser.text("main")


def test_re_run_failed_shows_the_dry_run_plan_then_starts_it_and_it_succeeds(
    stack: Stack, browser: Browser
) -> None:
    stack.faults.unlink()  # the cause is fixed
    browser.open(f"{stack.url}/ui/backfills")
    assert BROKEN in browser.text("#backfills .failed-keys")

    browser.click("#backfills a.rerun")

    assert browser.wait_for_path("/ui/backfills/new")
    assert browser.text("#plan-partitions") == "1"  # only the failed partition
    assert "$" in browser.text("#plan-cost")
    browser.click("#confirm")
    assert browser.wait_for_path("/ui/backfills/bf-daily-")  # the script started it: its page
    state = browser.wait_for_text(
        "#backfill td.state", lambda s: s.startswith(("SUCCEEDED", "FAILED")), WORK_SECONDS,
        reload=True,
    )  # fmt: skip
    assert state.startswith("SUCCEEDED"), state
    assert "1 / 1 succeeded" in browser.text("#backfill")

    browser.open(f"{stack.url}/ui/pipelines/daily?start={WEEK[0]}&end={WEEK[-1]}")
    cells = browser.cells()
    assert cells[(BROKEN, "load")] == cells[(BROKEN, "report")] == "succeeded"
    assert "a2" in browser.text(f'td[data-partition="{BROKEN}"][data-job="load"]')


def test_pages_escape_what_the_ledger_holds(stack: Stack) -> None:
    # An error text quoting a row value is data, never markup (Jinja2 autoescape).
    spec = load_spec(stack.spec_path)
    prefix = spec.get_environment("local").dataset_prefix
    with make_bigquery_client("local", stack.bigquery_endpoint) as client:
        RunLedger(client, get_ledger_ref("local", prefix)).record(
            RunRecord("daily", "load", "2024-03-02", date(2024, 3, 2), 1, "failed",
                      error='bad value <script>alert("x")</script>', error_kind="permanent")
        )  # fmt: skip

    page = stack.http.get("/ui/runs/daily/load/2024-03-02")

    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_starting_a_backfill_from_another_site_is_refused(stack: Stack) -> None:
    body = {"pipeline": "daily", "start": WEEK[0], "end": WEEK[0]}
    # A cross-site form can send neither JSON nor the page's header...
    no_header = stack.http.post("/ui/backfills", json=body)
    # ...and a cross-site script that sends them names its own origin.
    other_site = stack.http.post(
        "/ui/backfills", json=body,
        headers={"X-Dayflow-UI": "start-backfill", "Origin": "https://evil.example"},
    )  # fmt: skip

    assert no_header.status_code == other_site.status_code == 403
    assert "needs the header x-dayflow-ui" in no_header.json()["detail"]
    assert "origin 'https://evil.example' may not start backfills" in other_site.json()["detail"]


def test_bad_input_is_one_clear_4xx(stack: Stack) -> None:
    assert stack.http.get("/ui/pipelines/nope").status_code == 404
    reversed_range = stack.http.get("/ui/pipelines/daily?start=2024-03-09&end=2024-03-01")
    assert reversed_range.status_code in (400, 422)
    assert "2024-03-09" in reversed_range.json()["detail"]
    assert stack.http.get("/ui/runs/daily/nojob/2024-03-02").status_code == 404
    assert stack.http.get("/ui/static/../ui.py").status_code == 404
    bad_keys = stack.http.get("/ui/backfills/new?pipeline=daily&partition_keys=2024-03-02,nope")
    assert bad_keys.status_code == 422
    assert "partition_keys.1" in bad_keys.json()["detail"]
