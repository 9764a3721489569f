"""A project's files inside its job-runner image: checked, cleaned and given their Dataform CLIs.

A project image is built by the project's own Dockerfile, `FROM` the toolkit image
(services/job_runner/Dockerfile: dayflow, the job-runner, Node.js and npm, no project). It copies
the spec and `transform/` under `/app` and runs `dayflow image prepare /app/dayflow.yaml`
(`prepare_app`), which, as root and at build time:

1. loads the spec, and refuses one that names a file outside the app directory or a transform
   project the image lacks (each job's `sql`, each dbt `project_dir`, each CLI-mode Dataform
   `project_dir`; `load_spec` already refuses missing SQL and seed files);
2. removes local state that a build context may carry: `node_modules`, dbt's `target`, `logs`
   and `dbt_packages`, `__pycache__`, and `.df-credentials.json` (a credential);
3. makes directories 755 and files 644: readable by the runtime user, writable by nobody but root;
4. installs each CLI-mode Dataform project's CLI and core exactly as its `package-lock.json`
   pins them (`npm ci --omit=dev`; managed jobs run in the Dataform API and need none) and checks
   that the CLI is there.

Every refusal is one line naming the job, the value and what was expected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dayflow.errors import UserError
from dayflow.spec import BigQuerySqlJob, DataformJob, DbtJob, Spec, load_spec

# Where a project image puts the project; infra's IMAGE_APP_DIR says the same (a test holds them
# equal), and the spec path infra gives the job-runner is the spec's path under it.
APP_DIR = Path("/app")
# Names that never belong in an image: build output, caches and credentials of a working copy.
LOCAL_STATE = frozenset(
    {"node_modules", "target", "logs", "dbt_packages", "__pycache__", ".df-credentials.json"}
)
NPM_CI = ("npm", "ci", "--omit=dev")


class ProjectImageError(UserError):
    """The project's files cannot make a working image: a file missing or outside the app."""


def get_dataform_projects(spec: Spec, app_dir: Path) -> list[str]:
    """The Dataform projects that CLI-mode jobs run, relative to `app_dir`, sorted, each once.

    Raises ProjectImageError for a project outside `app_dir` or without a `package-lock.json`.
    """
    projects: set[str] = set()
    for where, job in _get_jobs(spec):
        if not isinstance(job, DataformJob) or job.managed is not None:
            continue
        label = f"{where}: Dataform project_dir {job.project_dir!r}"
        path = _get_inside(spec, app_dir, job.project_dir, label)
        if not (path / "package-lock.json").is_file():
            raise ProjectImageError(
                f"{label} has no package-lock.json (expected @dataform/cli and @dataform/core "
                "pinned there: run npm install in it and commit the lock)"
            )
        projects.add(path.relative_to(app_dir.resolve()).as_posix())
    return sorted(projects)


def check_job_files(spec: Spec, app_dir: Path) -> None:
    """Refuse SQL files and dbt projects of the spec that lie outside `app_dir` or are missing."""
    for where, job in _get_jobs(spec):
        if isinstance(job, BigQuerySqlJob):
            _get_inside(spec, app_dir, job.sql, f"{where}: sql {job.sql!r}")
        elif isinstance(job, DbtJob):
            label = f"{where}: dbt project_dir {job.project_dir!r}"
            path = _get_inside(spec, app_dir, job.project_dir, label)
            if not (path / "dbt_project.yml").is_file():
                raise ProjectImageError(
                    f"{label} has no dbt_project.yml (expected the dbt project in the image: "
                    "COPY it in the project's Dockerfile)"
                )


def remove_local_state(app_dir: Path) -> list[Path]:
    """Delete build output, caches and credentials under `app_dir`; return what was removed."""
    removed: list[Path] = []
    for root, dirs, files in os.walk(app_dir):
        for name in sorted({*dirs, *files} & LOCAL_STATE):
            path = Path(root) / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        dirs[:] = [d for d in dirs if d not in LOCAL_STATE]
    return removed


def make_read_only(app_dir: Path) -> None:
    """Directories 755, files 644 (symlinks untouched): the runtime user reads, cannot write."""
    for root, dirs, files in os.walk(app_dir):
        for name in [*dirs, *files]:
            path = Path(root) / name
            if not path.is_symlink():  # os.walk does not follow them either
                path.chmod(0o755 if path.is_dir() else 0o644)
    app_dir.chmod(0o755)


def install_dataform_clis(app_dir: Path, projects: Sequence[str]) -> None:
    """`npm ci --omit=dev` in each project, then check that its pinned CLI and core are there."""
    from dayflow.transforms.dataform import find_cli  # the same check a run makes

    for project in projects:
        path = app_dir / project
        _run_npm(NPM_CI, path)
        try:
            find_cli(path)
        except UserError as err:
            raise ProjectImageError(
                f"Dataform project {project!r}: npm ci installed no Dataform CLI ({err}; "
                "expected @dataform/cli and @dataform/core in its package-lock.json)"
            ) from err


def prepare_app(spec_path: Path) -> list[str]:
    """Check, clean and install the project under the spec's directory; return its Dataform
    projects. The steps and their order are those of the module docstring."""
    app_dir = spec_path.parent
    spec = load_spec(spec_path)
    check_job_files(spec, app_dir)
    projects = get_dataform_projects(spec, app_dir)
    remove_local_state(app_dir)
    make_read_only(app_dir)
    install_dataform_clis(app_dir, projects)
    return projects


def _get_jobs(spec: Spec) -> list[tuple[str, object]]:
    return [
        (f"job {pipeline_name}.{job_name}", job)
        for pipeline_name, pipeline in spec.pipelines.items()
        for job_name, job in pipeline.jobs.items()
    ]


def _get_inside(spec: Spec, app_dir: Path, relative: str, label: str) -> Path:
    path = (spec.root / relative).resolve()
    if not path.is_relative_to(app_dir.resolve()):
        raise ProjectImageError(
            f"{label} is outside the image's {app_dir} (expected a path inside the project, "
            "which the project's Dockerfile copies)"
        )
    if not path.exists():
        raise ProjectImageError(
            f"{label} is not in the image (expected {path}: COPY it in the project's Dockerfile)"
        )
    return path


def _run_npm(argv: Sequence[str], cwd: Path) -> None:
    if shutil.which(argv[0]) is None:
        raise ProjectImageError(
            f"{argv[0]} not found (expected Node.js and npm on PATH: the toolkit image has them)"
        )
    # A throwaway cache: nothing of npm's stays in the image or in the runtime user's home.
    with tempfile.TemporaryDirectory(prefix="npm-cache-") as cache:
        env = {
            **os.environ,
            "npm_config_cache": cache,
            "npm_config_audit": "false",
            "npm_config_fund": "false",
            "npm_config_update_notifier": "false",
        }
        result = subprocess.run(list(argv), cwd=cwd, env=env, check=False)
    if result.returncode != 0:
        raise ProjectImageError(
            f"Dataform project {cwd}: {' '.join(argv)} exited with {result.returncode} "
            "(expected its package-lock.json to install; npm's output is above)"
        )
