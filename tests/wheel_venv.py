"""Build dayflow's wheel and install it into a fresh virtualenv, as a user's machine has it.

Used by tests/test_wheel.py and bench/first_partition.py.

Why `uv build`: uv is in every dev venv (`make venv` bootstraps it from locks/uv.txt), it builds
in an isolated environment with exactly the backend pyproject.toml pins (hatchling==1.33.0), from
the package index or its cache, so a fresh clone needs nothing else; `pip wheel --no-deps .`
would work too but installs the backend anew on every build. The venv installs the lock's
dependencies (hashes checked) from uv's cache, filled by `make venv`: seconds, no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PackagingError(RuntimeError):
    """A build or install step failed; the message holds its command and output."""


def find_uv() -> str | None:
    """uv beside this interpreter (`make venv` puts it there), else on PATH."""
    uv = Path(sys.executable).with_name("uv")
    return str(uv) if uv.is_file() else shutil.which("uv")


def run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command to completion; its stdout, or a `PackagingError` with all it printed."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackagingError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def build_wheel(uv: str, out_dir: Path) -> Path:
    """Build the wheel of this repository into `out_dir`; return its path."""
    run([uv, "build", "--wheel", "--quiet", "--python", sys.executable, "--no-python-downloads",
         "--out-dir", str(out_dir), str(ROOT)])  # fmt: skip
    (wheel,) = out_dir.glob("dayflow-*.whl")
    return wheel


def create_venv(uv: str, path: Path, wheel: Path) -> Path:
    """A fresh virtualenv at `path`: locks/all.txt (hashes checked), then the wheel, --no-deps."""
    run([uv, "venv", "--quiet", "--python", sys.executable, "--no-python-downloads", str(path)])
    python = str(path / "bin" / "python")
    run([uv, "pip", "install", "--quiet", "--python", python, "--require-hashes",
         "-r", str(ROOT / "locks" / "all.txt")])  # fmt: skip
    run([uv, "pip", "install", "--quiet", "--python", python, "--no-deps", str(wheel)])
    return path


def get_user_env(venv: Path, home: Path) -> dict[str, str]:
    """The environment of a user's shell with `venv` activated: its bin first on PATH, no
    PYTHONPATH, no dayflow or job-runner settings, and `home` as HOME (a fresh one has no DuckDB
    extensions installed yet)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAYFLOW_", "JOB_RUNNER_", "PYTEST_", "VIRTUAL_ENV"))
        and k not in ("PYTHONPATH", "PYTHONHOME", "BIGQUERY_EMULATOR_HOST")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    return env
