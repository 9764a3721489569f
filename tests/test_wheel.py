"""The slow packaging tests: the built wheel alone runs scaffolded projects.

Builds the wheel once, checks it holds the package data that `dayflow local up` and
`dayflow.infra` read, installs it into one fresh virtualenv (the lock's dependencies, then the
wheel with --no-deps; tests/wheel_venv.py says how and why), and in empty directories outside
the repository, with no PYTHONPATH and a fresh HOME, runs `dayflow init`, the CLI's local round
trip and the scaffolded project's own `pytest`; then two domains (issue 13): `dayflow init`
scaffolds `sales` and `finance`, each team declares its side of the data product, and each runs a
partition on its own local stack (finance on its copy of the sales table, filled with the rows
sales wrote). Nothing may find a file through this repository.

One module, so that the wheel and the virtualenv are built once (module fixtures; pytest-xdist's
`--dist loadfile` keeps a module on one worker).
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.warehouse import make_bigquery_client
from tests.domains.projects import declare_domains, write_consumer_seed
from tests.wheel_venv import ROOT, build_wheel, create_venv, find_uv, get_user_env, run

pytestmark = [
    pytest.mark.packaging,
    # A guard against a hung subprocess, not a deadline: each step below waits for its process.
    pytest.mark.timeout(1800),
]

# Package data that the installed toolkit reads at run time (through dayflow.package_files).
EXPECTED_IN_WHEEL = (
    "dayflow/workflows/run_partition.workflows.yaml",
    "dayflow/workflows/backfill.workflows.yaml",
    "dayflow/functions/ingest_events/main.py",
    "dayflow/functions/ingest_events/requirements.txt",
    "dayflow/functions/ingest_events/ingestfn/__init__.py",
    "dayflow/infra/program.py",
    "dayflow/scaffold/template/dayflow.yaml.tmpl",
    "dayflow/scaffold/template/transform/seed/events.jsonl",
    "dayflow/scaffold/template/dot-github/workflows/ci.yml",
    "dayflow/scaffold/template/tests/test_pipeline.py.tmpl",
    "job_runner/main.py",
    "job_runner/ui/templates/grid.html",  # the status page's templates and script
    "job_runner/ui/static/ui.js",
)
PIPELINE = "proj_daily"
DAY = "2024-01-02"


@pytest.fixture(scope="module")
def uv() -> str:
    found = find_uv()
    if found is None:
        pytest.skip("uv not found beside the interpreter or on PATH (`make venv` installs it)")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, uv: str) -> Path:
    return build_wheel(uv, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, uv: str, wheel: Path) -> Path:
    return create_venv(uv, tmp_path_factory.mktemp("venv") / ".venv", wheel)


@pytest.fixture
def outside_env(tmp_path: Path, venv: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return get_user_env(venv, home)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    assert not path.resolve().is_relative_to(ROOT.resolve())
    return path


def test_wheel_holds_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in EXPECTED_IN_WHEEL if name not in names]
    assert not missing, f"{wheel.name} lacks {missing}"
    assert not [n for n in names if "/__pycache__/" in n or n.startswith("examples/")]


def test_installed_toolkit_imports_from_the_venv_only(
    venv: Path, outside_env: dict[str, str], workdir: Path
) -> None:
    script = "import dayflow, job_runner, dayflow.infra.program; print(dayflow.__file__, job_runner.__file__)"
    out = run([str(venv / "bin" / "python"), "-c", script], cwd=workdir, env=outside_env)
    for path in out.split():
        assert Path(path).resolve().is_relative_to(venv.resolve()), path


@pytest.mark.emulator
def test_scaffolded_project_goes_green_from_the_installed_wheel(
    venv: Path, outside_env: dict[str, str], workdir: Path
) -> None:
    def dayflow(*args: str) -> str:
        return run(["dayflow", *args], cwd=project, env=outside_env)

    run(["dayflow", "init", "proj"], cwd=workdir, env=outside_env)
    project = workdir / "proj"
    assert "ok: 1 pipeline(s), 1 job(s)" in dayflow("validate")
    try:
        # Free ports: other stacks (test workers, other checkouts) may start on this machine.
        dayflow("local", "up", "--free-ports")
        # The fresh HOME had no DuckDB extensions: `local up` installed them from their wheels
        # (dayflow.local.duckdb_extensions), with no network and no Makefile step.
        home = Path(outside_env["HOME"])
        assert list(home.glob(".duckdb/extensions/*/*/icu.duckdb_extension"))
        assert "seeded raw.events: 21 rows" in dayflow("seed")
        dayflow("run", PIPELINE, "--partition", DAY)
        first = json.loads(dayflow("checksum", PIPELINE, "--start", DAY, "--end", DAY, "--json"))
        dayflow("run", PIPELINE, "--partition", DAY)  # a rerun replaces the partition
        second = json.loads(dayflow("checksum", PIPELINE, "--start", DAY, "--end", DAY, "--json"))
    finally:
        run(["dayflow", "local", "down"], cwd=project, env=outside_env)
    (table,) = first["partitions"][0]["tables"]
    assert table["table"] == "mart.daily_events"
    assert table["rows"] == 2  # 2024-01-02 holds views and purchases (transform/seed/events.jsonl)
    assert second == first

    # The project's own tests, with dayflow's pytest plugin, as its CI runs them.
    result = subprocess.run(
        ["pytest", "-p", "no:cacheprovider"],
        cwd=project,
        env=outside_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 2 passed" in result.stdout


# --- two domains, sales and finance, from the installed wheel ------------------------------------


@contextmanager
def local_stack(project: Path, env: dict[str, str]) -> Iterator[str]:
    """`dayflow local up --free-ports` in `project`, then `dayflow seed`; its BigQuery URL."""
    try:
        run(["dayflow", "local", "up", "--free-ports"], cwd=project, env=env)
        run(["dayflow", "seed"], cwd=project, env=env)
        yield json.loads((project / ".dayflow" / "stack.json").read_text())["bigquery_endpoint"]
    finally:
        run(["dayflow", "local", "down"], cwd=project, env=env)


def read_rows(endpoint: str, table_id: str) -> list[dict[str, Any]]:
    with make_bigquery_client("local", endpoint) as client:
        sql = f"SELECT * FROM `{table_id}` WHERE event_date = '{DAY}' ORDER BY 2"
        return [dict(r) for r in client.query_and_wait(sql)]


def get_local_prefix(project: Path) -> str:
    spec = yaml.safe_load((project / "dayflow.yaml").read_text())
    return str(spec["environments"]["local"]["dataset_prefix"])


@pytest.mark.emulator
def test_sales_and_finance_run_from_the_installed_wheel(
    outside_env: dict[str, str], workdir: Path
) -> None:
    env = outside_env
    run(["dayflow", "init", "sales"], cwd=workdir, env=env)
    run(["dayflow", "init", "finance"], cwd=workdir, env=env)
    sales, finance = workdir / "sales", workdir / "finance"
    declare_domains(sales, finance)
    for project in (sales, finance):
        run(["dayflow", "validate"], cwd=project, env=env)

    with local_stack(sales, env) as endpoint:
        run(["dayflow", "run", "sales_daily", "--partition", DAY], cwd=sales, env=env)
        rows = read_rows(endpoint, f"local.{get_local_prefix(sales)}mart.daily_events")
    assert len(rows) == 2  # 2024-01-02 holds two event types in the scaffolded seed

    copied = ("event_date", "event_type", "amount")
    write_consumer_seed(finance, [{c: str(r[c]) for c in copied} for r in rows])
    with local_stack(finance, env) as endpoint:
        run(["dayflow", "run", "finance_daily", "--partition", DAY], cwd=finance, env=env)
        revenue = read_rows(endpoint, f"local.{get_local_prefix(finance)}mart.net_revenue")
    assert {r["event_type"]: r["net_amount"] for r in revenue} == {
        r["event_type"]: round(r["amount"] * 0.8, 2) for r in rows
    }


@pytest.fixture(autouse=True)
def _no_stack_left(workdir: Path) -> Iterator[None]:
    yield
    leftovers = list(workdir.glob("*/.dayflow/*.json"))
    assert not leftovers, f"local stack processes left running: {leftovers}"
