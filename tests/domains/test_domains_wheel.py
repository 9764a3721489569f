"""The two domains from the installed wheel alone: `dayflow init` scaffolds `sales` and
`finance` outside the repository, each team declares its side of the data product, and each
runs a partition on its own local stack through the CLI (finance on its copy of the sales table,
filled with the rows sales wrote).

Slow (builds the wheel and a fresh virtualenv, as tests/test_wheel.py does): marked packaging.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dayflow.warehouse import make_bigquery_client
from tests.domains.projects import declare_domains, write_consumer_seed
from tests.wheel_venv import ROOT, build_wheel, create_venv, find_uv, get_user_env, run

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.emulator,
    # A guard against a hung subprocess, not a deadline: each step waits for its process.
    pytest.mark.timeout(1800),
]
DAY = "2024-01-02"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv not found beside the interpreter or on PATH (`make venv` installs it)")
    wheel = build_wheel(uv, tmp_path_factory.mktemp("dist"))
    return create_venv(uv, tmp_path_factory.mktemp("venv") / ".venv", wheel)


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


def test_sales_and_finance_run_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    assert not work.resolve().is_relative_to(ROOT.resolve())
    env = get_user_env(venv, home)
    run(["dayflow", "init", "sales"], cwd=work, env=env)
    run(["dayflow", "init", "finance"], cwd=work, env=env)
    sales, finance = work / "sales", work / "finance"
    declare_domains(sales, finance)
    for project in (sales, finance):
        run(["dayflow", "validate"], cwd=project, env=env)

    with local_stack(sales, env) as endpoint:
        run(["dayflow", "run", "sales_daily", "--partition", DAY], cwd=sales, env=env)
        prefix = _get_local_prefix(sales)
        rows = read_rows(endpoint, f"local.{prefix}mart.daily_events")
    assert len(rows) == 2  # 2024-01-02 holds two event types in the scaffolded seed

    copied = ("event_date", "event_type", "amount")
    write_consumer_seed(finance, [{c: str(r[c]) for c in copied} for r in rows])
    with local_stack(finance, env) as endpoint:
        run(["dayflow", "run", "finance_daily", "--partition", DAY], cwd=finance, env=env)
        revenue = read_rows(endpoint, f"local.{_get_local_prefix(finance)}mart.net_revenue")
    assert {r["event_type"]: r["net_amount"] for r in revenue} == {
        r["event_type"]: round(r["amount"] * 0.8, 2) for r in rows
    }


def _get_local_prefix(project: Path) -> str:
    import yaml

    spec = yaml.safe_load((project / "dayflow.yaml").read_text())
    return str(spec["environments"]["local"]["dataset_prefix"])
