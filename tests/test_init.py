"""`dayflow init DIR [--domain NAME]`: the scaffolded project, and what init refuses.

The project running locally (its own pytest included) from an installed wheel is
tests/test_wheel.py; here, what init writes and that dayflow's own loaders accept it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pulumi
import pytest
import yaml

from dayflow.cli import main
from dayflow.infra.config import load_stack_config
from dayflow.scaffold import DOMAIN_RULE, create_project
from dayflow.spec import BigQuerySqlJob, load_spec
from tests.conftest import ROOT

# The example project: it is laid out as `dayflow init` scaffolds any project (issue 13).
EXAMPLE = ROOT / "examples" / "shop"

EXPECTED_FILES = {
    ".github/workflows/ci.yml",
    ".dockerignore",
    ".gitignore",
    "Dockerfile",
    "Pulumi.dev.yaml",
    "Pulumi.yaml",
    "README.md",
    "dayflow.yaml",
    "infra/__main__.py",
    "pytest.ini",
    "requirements.txt",
    "tests/test_pipeline.py",
    "transform/seed/events.jsonl",
    "transform/sql/daily_events.sql",
}


def run_init(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["dayflow", "init", *args])
    code = 0
    try:
        main()
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def get_files(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def test_init_writes_a_project_whose_spec_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "meters"
    code, out, err = run_init(monkeypatch, capsys, str(project), "--domain", "smart_meters")
    assert (code, err) == (0, "")
    assert "domain 'smart_meters'" in out
    assert "dayflow run smart_meters_daily --partition 2024-01-02" in out
    assert get_files(project) == EXPECTED_FILES

    spec = load_spec(project / "dayflow.yaml")
    assert spec.name == "smart_meters"
    assert set(spec.environments) == {"local", "dev", "prod"}
    assert spec.environments["dev"].gcp_project == "smart-meters-dev"
    assert spec.environments["prod"].gcp_project == "smart-meters-prod"
    (pipeline,) = spec.pipelines.values()
    (job,) = pipeline.jobs.values()
    assert isinstance(job, BigQuerySqlJob)
    assert (job.destination.dataset, job.destination.table) == ("mart", "daily_events")
    assert job.destination.require_partition_filter
    assert spec.sources["raw"].tables["events"].seed == "transform/seed/events.jsonl"


def test_scaffolded_seed_spans_a_few_days_and_matches_the_declared_columns(
    tmp_path: Path,
) -> None:
    scaffold = create_project(tmp_path / "shop2")
    spec = load_spec(scaffold.project_dir / "dayflow.yaml")
    columns = set(spec.sources["raw"].tables["events"].columns)
    rows = [
        json.loads(line)
        for line in (scaffold.project_dir / "transform/seed/events.jsonl").read_text().splitlines()
    ]
    assert 15 <= len(rows) <= 30
    assert all(set(row) == columns for row in rows)
    assert sorted({row["event_ts"][:10] for row in rows}) == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]


def test_project_pins_the_installed_dayflow(tmp_path: Path) -> None:
    scaffold = create_project(tmp_path / "pins")
    pinned = [
        line
        for line in (scaffold.project_dir / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pinned == [f"dayflow[local,infra,dev]=={version('dayflow')}"]
    assert version("dayflow") in (scaffold.project_dir / "README.md").read_text()


def test_ci_validates_tests_and_checks_contracts_on_pull_requests(tmp_path: Path) -> None:
    scaffold = create_project(tmp_path / "ci")
    workflow = yaml.safe_load((scaffold.project_dir / ".github/workflows/ci.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert any("pip install -r requirements.txt" in run for run in runs)
    assert ".venv/bin/dayflow validate" in runs
    assert ".venv/bin/pytest" in runs
    (contract,) = [step for step in steps if "contract check" in step.get("run", "")]
    assert contract["if"] == "github.event_name == 'pull_request'"
    assert contract["run"] == '.venv/bin/dayflow contract check --against "origin/$BASE_REF"'
    assert contract["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    # The base branch must be fetched for `git show origin/<base>:dayflow.yaml`.
    assert steps[0]["with"]["fetch-depth"] == 0


def test_dockerfile_layers_the_project_on_the_dayflow_image(tmp_path: Path) -> None:
    scaffold = create_project(tmp_path / "img")
    lines = [
        line
        for line in (scaffold.project_dir / "Dockerfile").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[:2] == ["ARG DAYFLOW_IMAGE", "FROM ${DAYFLOW_IMAGE}"]
    assert "COPY dayflow.yaml /app/dayflow.yaml" in lines
    assert "COPY transform/ /app/transform/" in lines


def test_infra_entry_point_has_the_example_projects_shape(tmp_path: Path) -> None:
    """The same code as examples/shop/infra/__main__.py (docstrings aside)."""

    def code(path: Path) -> list[str]:
        return [line for line in path.read_text().split('"""')[-1].splitlines() if line]

    scaffold = create_project(tmp_path / "infra_shape")
    assert code(scaffold.project_dir / "infra/__main__.py") == code(EXAMPLE / "infra/__main__.py")


def test_scaffolded_stack_config_is_accepted_by_dayflow_infra(tmp_path: Path) -> None:
    """Pulumi.dev.yaml's placeholders pass dayflow.infra's config checks; its keys live in the
    Pulumi project's namespace, which is the domain (Pulumi.yaml `name`)."""
    scaffold = create_project(tmp_path / "acme", domain="acme_sales")
    pulumi_yaml = yaml.safe_load((scaffold.project_dir / "Pulumi.yaml").read_text())
    assert pulumi_yaml["name"] == "acme_sales"
    assert pulumi_yaml["main"] == "infra/"
    assert pulumi_yaml["runtime"]["options"]["virtualenv"] == ".venv"
    stack = yaml.safe_load((scaffold.project_dir / "Pulumi.dev.yaml").read_text())["config"]
    pulumi.runtime.set_all_config(
        {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in stack.items()}
    )
    try:
        cfg = load_stack_config(pulumi.Config("acme_sales"), stack="dev", root=scaffold.project_dir)
    finally:
        pulumi.runtime.set_all_config({})
    assert (cfg.environment, cfg.project, cfg.region) == ("dev", "acme-sales-dev", "europe-west1")
    assert cfg.image.endswith("@sha256:" + "0" * 64)
    assert cfg.scheduler_region == "europe-west1"  # Cloud Scheduler runs there: no extra key
    assert cfg.schedule_paused
    assert not cfg.deletion_protection
    assert cfg.image_spec_path == "/app/dayflow.yaml"  # where the Dockerfile copies the spec


def test_scaffolded_python_passes_ruff_with_its_defaults(tmp_path: Path) -> None:
    scaffold = create_project(tmp_path / "lint")
    ruff = Path(sys.executable).with_name("ruff")
    # A new project has no ruff configuration: ruff's defaults (88 columns) apply.
    for command in (["check", "--select", "E,F,W,I,B,UP"], ["format", "--check"]):
        result = subprocess.run(
            [str(ruff), *command, "--isolated", "--target-version", "py313", "."],
            cwd=scaffold.project_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_domain_defaults_to_the_normalised_directory_name(tmp_path: Path) -> None:
    assert create_project(tmp_path / "Smart-Meters").domain == "smart_meters"
    spec = load_spec(tmp_path / "Smart-Meters" / "dayflow.yaml")
    assert spec.name == "smart_meters"
    assert list(spec.pipelines) == ["smart_meters_daily"]


def test_init_into_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert create_project(tmp_path / "empty").domain == "empty"


def test_init_refuses_a_non_empty_directory_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "taken"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    code, _, err = run_init(monkeypatch, capsys, str(project))
    assert code == 2
    assert err.splitlines() == [
        f"error: {project} is not empty (expected a new or empty directory)"
    ]
    assert get_files(project) == {"notes.txt"}


@pytest.mark.parametrize(
    "domain",
    ["Sales", "9lives", "s", "sales_", "sales-eu", "sales.eu", "a" * 26, "säljare"],
)
def test_init_refuses_a_bad_domain_name_saying_the_rule(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    domain: str,
) -> None:
    code, _, err = run_init(monkeypatch, capsys, str(tmp_path / "p"), "--domain", domain)
    assert code == 2
    assert err.splitlines() == [
        f"error: --domain {domain!r} is not a valid domain name (expected {DOMAIN_RULE})"
    ]
    assert not (tmp_path / "p").exists()


def test_init_refuses_a_directory_name_that_is_no_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_init(monkeypatch, capsys, str(tmp_path / "2024"))
    assert code == 2
    assert re.fullmatch(
        re.escape(
            "error: directory name '2024' gives domain '2024', which is not a valid domain name "
            f"(expected {DOMAIN_RULE}; or name the domain with --domain)"
        ),
        err.strip(),
    )
    assert not (tmp_path / "2024").exists()
