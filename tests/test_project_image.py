"""`dayflow image prepare` and `dayflow image dataform-projects` (dayflow.project_image): what a
project's Dockerfile runs, as root, once its spec and transforms are copied under /app.

Run here on a copy of a project laid out as /app would be: the same code the image build runs.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import pytest
import yaml

from dayflow.cli import main
from dayflow.project_image import get_dataform_projects, prepare_app
from dayflow.spec import DataformJob, load_spec
from tests.conftest import PROJECT

DATAFORM = PROJECT / "dataform"
# What a project's Dockerfile copies under /app, node_modules aside (.dockerignore drops it).
PROJECT_FOLDERS = ("sql", "seed", "dbt", "dataform", "events")


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[str], list[str]]:
    monkeypatch.setattr(sys, "argv", ["dayflow", "image", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out.splitlines(), captured.err.splitlines()


def dataform_project(path: Path, *, lock: bool = True) -> None:
    path.mkdir(parents=True)
    for name in ("package.json", "workflow_settings.yaml") + (
        ("package-lock.json",) if lock else ()
    ):
        shutil.copy(DATAFORM / name, path / name)


def write_spec(app: Path, jobs: dict[str, dict[str, object]]) -> Path:
    spec = {
        "version": 1,
        "name": "shop",
        "environments": {"local": {"gcp_project": "local"}},
        "pipelines": {
            "daily": {
                "granularity": "day",
                "timezone": "UTC",
                "schedule": "0 2 * * *",
                "start": "2024-01-01",
                "jobs": jobs,
            }
        },
    }
    path = app / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def copy_project(app: Path) -> Path:
    """The tests project as a Dockerfile would copy it: dayflow.yaml and its folders."""
    app.mkdir()
    shutil.copy(PROJECT / "dayflow.yaml", app / "dayflow.yaml")
    for folder in PROJECT_FOLDERS:
        shutil.copytree(
            PROJECT / folder, app / folder, ignore=shutil.ignore_patterns("node_modules")
        )
    return app / "dayflow.yaml"


# --- which Dataform projects get their CLI ---------------------------------------------------------


def test_listing_names_the_projects_of_cli_mode_dataform_jobs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dataform_project(tmp_path / "transform" / "dataform")
    dataform_project(tmp_path / "transform" / "managed", lock=False)
    spec = write_spec(
        tmp_path,
        {
            "mart": {"kind": "dataform", "project_dir": "transform/dataform", "tags": ["a"]},
            "mart_again": {"kind": "dataform", "project_dir": "./transform/dataform"},
            "managed": {
                "kind": "dataform",
                "project_dir": "transform/managed",
                "managed": {"repository": "shop"},
            },
        },
    )
    code, out, err = run_cli(monkeypatch, capsys, "dataform-projects", str(spec))
    assert (code, out, err) == (0, ["transform/dataform"], [])


def test_listing_of_the_tests_project_spec_matches_its_cli_mode_dataform_jobs() -> None:
    spec = load_spec(PROJECT / "dayflow.yaml")
    expected = sorted(
        {
            job.project_dir.removeprefix("./")
            for pipeline in spec.pipelines.values()
            for job in pipeline.jobs.values()
            if isinstance(job, DataformJob) and job.managed is None
        }
    )
    assert get_dataform_projects(spec, PROJECT) == expected


def test_prepare_refuses_a_dataform_project_without_package_lock_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dataform_project(tmp_path / "transform" / "dataform", lock=False)
    spec = write_spec(tmp_path, {"mart": {"kind": "dataform", "project_dir": "transform/dataform"}})
    code, _, err = run_cli(monkeypatch, capsys, "prepare", str(spec))
    assert code == 2
    assert err == [
        "error: job daily.mart: Dataform project_dir 'transform/dataform' has no "
        "package-lock.json (expected @dataform/cli and @dataform/core pinned there: run npm "
        "install in it and commit the lock)"
    ]


def test_prepare_refuses_a_dataform_project_outside_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    dataform_project(tmp_path / "elsewhere")
    spec = write_spec(app, {"mart": {"kind": "dataform", "project_dir": "../elsewhere"}})
    code, _, err = run_cli(monkeypatch, capsys, "prepare", str(spec))
    assert code == 2
    assert err == [
        f"error: job daily.mart: Dataform project_dir '../elsewhere' is outside the image's {app} "
        "(expected a path inside the project, which the project's Dockerfile copies)"
    ]


# --- every file the spec names is in the image ----------------------------------------------------


def test_prepare_refuses_a_dbt_project_the_dockerfile_did_not_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, {"marts": {"kind": "dbt", "project_dir": "dbt"}})
    code, _, err = run_cli(monkeypatch, capsys, "prepare", str(spec))
    assert code == 2
    assert err == [
        f"error: job daily.marts: dbt project_dir 'dbt' is not in the image (expected "
        f"{tmp_path.resolve() / 'dbt'}: COPY it in the project's Dockerfile)"
    ]


def test_prepare_refuses_a_sql_file_outside_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (tmp_path / "shared.sql").write_text("SELECT 1 AS x")
    job = {
        "kind": "bigquery_sql",
        "sql": "../shared.sql",
        "destination": {"dataset": "mart", "table": "t", "partition_field": "d"},
    }
    code, _, err = run_cli(monkeypatch, capsys, "prepare", str(write_spec(app, {"t": job})))
    assert code == 2
    assert err == [
        f"error: job daily.t: sql '../shared.sql' is outside the image's {app} (expected a path "
        "inside the project, which the project's Dockerfile copies)"
    ]


def test_prepare_refuses_a_spec_that_names_a_missing_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    spec_path = copy_project(app)
    (app / "seed" / "orders.jsonl").unlink()
    code, _, err = run_cli(monkeypatch, capsys, "prepare", str(spec_path))
    assert code == 2
    assert err == [
        f"error: {spec_path}: sources.raw.tables.orders.seed: file 'seed/orders.jsonl' not found"
    ]


# --- what prepare leaves in /app ------------------------------------------------------------------


def test_prepare_removes_local_state_and_makes_the_project_read_only_to_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    spec_path = copy_project(app)
    leftovers = [
        app / "dataform" / ".df-credentials.json",
        app / "dbt" / "target" / "manifest.json",
        app / "dbt" / "logs" / "dbt.log",
        app / "events" / "__pycache__" / "derive_events.cpython-313.pyc",
        app / "dataform" / "node_modules" / ".bin" / "dataform",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    (app / "sql" / "stg_orders.sql").chmod(0o666)
    (app / "sql").chmod(0o777)

    code, out, err = run_cli(monkeypatch, capsys, "prepare", str(spec_path))

    assert (code, err) == (0, [])
    assert out[-1] == f"project image ready: {app} (0 Dataform project(s))"
    for path in leftovers:
        assert not path.exists(), path
    assert not (app / "dataform" / "node_modules").exists()
    modes = {stat.S_IMODE(p.stat().st_mode) for p in [app, *app.rglob("*")] if not p.is_symlink()}
    assert modes == {0o755, 0o644}
    assert load_spec(spec_path).pipelines  # what the job-runner loads is intact


@pytest.mark.skipif(
    shutil.which("npm") is None, reason="npm is not on PATH (Node.js not installed)"
)
def test_prepare_installs_each_cli_mode_project_exactly_as_its_lock_pins_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "app"
    spec_path = copy_project(app)
    raw = yaml.safe_load(spec_path.read_text())
    next(iter(raw["pipelines"].values()))["jobs"]["mart_dataform"] = {
        "kind": "dataform",
        "project_dir": "dataform",
    }
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert not (app / "dataform" / "node_modules").exists()
    # npm's own cache first (packages already fetched by `make venv`); the registry otherwise.
    monkeypatch.setenv("npm_config_prefer_offline", "true")

    assert prepare_app(spec_path) == ["dataform"]

    installed = app / "dataform" / "node_modules"
    lock = json.loads((DATAFORM / "package-lock.json").read_text())["packages"]
    for package in ("@dataform/cli", "@dataform/core"):
        version = json.loads((installed / package / "package.json").read_text())["version"]
        assert version == lock[f"node_modules/{package}"]["version"], package
    assert (installed / ".bin" / "dataform").is_file()


@pytest.mark.skipif(
    shutil.which("npm") is None, reason="npm is not on PATH (Node.js not installed)"
)
def test_prepare_refuses_a_lock_that_installs_no_dataform_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "transform" / "dataform"
    project.mkdir(parents=True)
    shutil.copy(DATAFORM / "workflow_settings.yaml", project)
    package = {"name": "empty", "version": "1.0.0"}
    (project / "package.json").write_text(json.dumps(package))
    lock = {"name": "empty", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
            "packages": {"": package}}  # fmt: skip
    (project / "package-lock.json").write_text(json.dumps(lock))
    spec = write_spec(tmp_path, {"mart": {"kind": "dataform", "project_dir": "transform/dataform"}})
    code, _, err = run_cli(monkeypatch, capsys, "prepare", str(spec))
    assert code == 2
    assert len(err) == 1
    assert err[0].startswith(
        "error: Dataform project 'transform/dataform': npm ci installed no Dataform CLI ("
    )
    assert err[0].endswith("expected @dataform/cli and @dataform/core in its package-lock.json)")


def test_a_scaffolded_project_prepares_from_what_its_dockerfile_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dayflow.scaffold import create_project

    project = create_project(tmp_path / "meters").project_dir
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(project / "dayflow.yaml", app / "dayflow.yaml")
    shutil.copytree(project / "transform", app / "transform")
    code, out, err = run_cli(monkeypatch, capsys, "prepare", str(app / "dayflow.yaml"))
    assert (code, out, err) == (0, [f"project image ready: {app} (0 Dataform project(s))"], [])
