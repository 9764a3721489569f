"""Time to a first green partition, from an empty directory, with dayflow installed from its wheel.

What a new user does after `pip install dayflow`, timed from an empty directory (goal: < 60 s):
`dayflow init proj`, `cd proj`, `dayflow local up`, `dayflow seed`, `dayflow run proj_daily
--partition 2024-01-02`. Each step is the installed `dayflow` command in a subprocess, in a
directory outside the repository, with no PYTHONPATH and a fresh HOME (so the DuckDB extensions
are installed too, as on a first run). Not timed: building the wheel and the virtualenv (the
"already installed" part), and `dayflow local down` after.

Figures (one JSON object on stdout): the median over --repeat attempts of the total seconds and
of each step's seconds and share of the total; every attempt's total; the setup's seconds; and
the machine's 1-minute load average before and after (the machine may be shared: at load 10 on
2 cores every step takes several times as long as on an idle machine).

Usage: .venv/bin/python bench/first_partition.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE, DAY = "proj_daily", "2024-01-02"
GOAL_SECONDS = 60
STEPS = {
    "init": ["dayflow", "init", "proj"],
    # Free ports: on a shared machine another stack may take a usual port while this one starts.
    "local_up": ["dayflow", "local", "up", "--free-ports"],
    "seed": ["dayflow", "seed"],
    "run": ["dayflow", "run", PIPELINE, "--partition", DAY],
}


def attempt(venv: Path, base: Path) -> dict[str, float]:
    """One pass from an empty directory to a green partition; each step's seconds."""
    from tests.wheel_venv import get_user_env, run

    work, home = base / "work", base / "home"
    work.mkdir()
    home.mkdir()
    env = get_user_env(venv, home)
    seconds: dict[str, float] = {}
    cwd = work
    try:
        for name, command in STEPS.items():
            started = time.perf_counter()
            out = run(command, cwd=cwd, env=env)
            seconds[name] = time.perf_counter() - started
            cwd = work / "proj"
        assert "succeeded" in out, out  # the run's table: the one job succeeded
    finally:
        if (work / "proj").is_dir():
            run(["dayflow", "local", "down"], cwd=work / "proj", env=env)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.wheel_venv import build_wheel, create_venv, find_uv

    load_before = os.getloadavg()[0]
    uv = find_uv()
    if uv is None:
        sys.exit("uv not found beside the interpreter or on PATH (`make venv` installs it)")
    with tempfile.TemporaryDirectory(prefix="dayflow-first-partition-") as tmp:
        base = Path(tmp)
        started = time.perf_counter()
        wheel = build_wheel(uv, base / "dist")
        built = time.perf_counter()
        venv = create_venv(uv, base / "venv", wheel)
        installed = time.perf_counter()
        attempts = []
        for i in range(args.repeat):
            (base / f"attempt{i}").mkdir()
            attempts.append(attempt(venv, base / f"attempt{i}"))
    totals = [sum(a.values()) for a in attempts]
    median_total = statistics.median(totals)
    steps = {}
    for name in STEPS:
        step = statistics.median(a[name] for a in attempts)
        steps[name] = {"seconds": round(step, 2), "share": round(step / median_total, 3)}
    print(
        json.dumps(
            {
                "benchmark": "first_partition",
                "seconds_to_first_green_partition": round(median_total, 2),
                "goal_seconds": GOAL_SECONDS,
                "under_goal": median_total < GOAL_SECONDS,
                "steps": steps,
                "attempt_totals": [round(t, 2) for t in totals],
                "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                "cpus": os.cpu_count(),
                "setup_not_timed": {
                    "build_wheel_seconds": round(built - started, 2),
                    "fresh_venv_seconds": round(installed - built, 2),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
