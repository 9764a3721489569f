"""Wall time to build the whole Pulumi stack under mocks: the example spec and a 50-pipeline spec.

Each figure is measured in a fresh Python process, from before the Pulumi SDK is imported until
every resource is registered: what the program itself costs in a `pulumi preview` or `up`
(the engine and the GCP provider excluded). `*_warm_seconds` is a second build in that process;
`*_cpu_seconds` is the cold build's CPU time, a steadier figure on a busy machine.
Prints one JSON object. Target: fifty_pipelines_seconds < 5.

Run: .venv/bin/python bench/infra.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS_DIR = ROOT / "tests" / "infra"
NUM_PIPELINES = 50


def build_once(which: str, tmp: Path) -> dict[str, float | int]:
    start, cpu_start = time.perf_counter(), time.process_time()
    sys.path[:0] = [str(ROOT), str(HARNESS_DIR)]
    import pulumi_harness as harness

    overrides: dict[str, object] = {
        "workflowsDir": str(harness.get_workflows_dir(tmp)),
        "ingestFunctionDir": str(harness.get_function_dir(tmp)),
    }
    if which == "fifty_pipelines":
        overrides["specPath"] = str(harness.write_spec(tmp / "spec", NUM_PIPELINES))
    setup = time.perf_counter() - start
    resources = len(harness.run_program("prod", overrides))
    cold, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    start = time.perf_counter()
    harness.run_program("prod", overrides)
    warm = time.perf_counter() - start
    return {
        "seconds": round(cold, 3),
        "cpu_seconds": round(cpu, 3),
        "warm_seconds": round(warm, 3),
        "resources": resources,
        "setup_seconds": round(setup, 3),
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(build_once(sys.argv[2], Path(tmp))))
        return
    result: dict[str, float | int] = {}
    for which in ("example", "fifty_pipelines"):
        out = subprocess.run(
            [sys.executable, __file__, "--one", which],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        result[f"{which}_seconds"] = figures["seconds"]
        result[f"{which}_cpu_seconds"] = figures["cpu_seconds"]
        result[f"{which}_warm_seconds"] = figures["warm_seconds"]
        result[f"{which}_resources"] = figures["resources"]
    result["target_fifty_pipelines_seconds"] = 5
    print(json.dumps(result))


if __name__ == "__main__":
    main()
