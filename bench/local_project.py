"""What the dayflow.testing fixture costs: importing the plugin, starting and stopping a
`LocalProject` (the example with its topics, and the example without them), seeding, and one
partition run. Prints one JSON object (seconds; the best and worst of --repeat starts).

    python bench/local_project.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from dayflow.testing import LocalProject

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop" / "dayflow.yaml"

IMPORT_PLUGIN = (
    "import time, pytest; t = time.perf_counter(); import dayflow.testing.plugin; "
    "print(time.perf_counter() - t)"
)


def write_without_topics(directory: Path) -> Path:
    """The example spec without its topics (and the pipeline that reads them), its files named
    by absolute path: a project whose stack has no ingest function nor Pub/Sub emulator."""
    spec: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    spec.pop("topics")
    spec["pipelines"] = {"shop_daily": spec["pipelines"]["shop_daily"]}
    for job in spec["pipelines"]["shop_daily"]["jobs"].values():
        job["sql"] = str(EXAMPLE.parent / job["sql"])
    for table in spec["sources"]["raw"]["tables"].values():
        table["seed"] = str(EXAMPLE.parent / table["seed"])
    path = directory / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def measure(spec_path: Path, state_dir: Path) -> dict[str, float]:
    started = time.perf_counter()
    project = LocalProject.start(spec_path, state_dir)
    up = time.perf_counter()
    try:
        project.seed()
        seeded = time.perf_counter()
        records = project.run("shop_daily", "2024-01-03")
        ran = time.perf_counter()
        assert all(r["status"] == "succeeded" for r in records), records
    finally:
        stopping = time.perf_counter()
        project.stop()
    return {
        "start": up - started,
        "seed": seeded - up,
        "first_partition_run": ran - seeded,
        "stop": time.perf_counter() - stopping,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    imports = [
        float(subprocess.run([sys.executable, "-c", IMPORT_PLUGIN], capture_output=True,
                             text=True, check=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    result: dict[str, Any] = {"plugin_import_ms": round(min(imports) * 1000, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        specs = {"with_topics": EXAMPLE, "without_topics": write_without_topics(Path(tmp))}
        for name, spec_path in specs.items():
            runs = [measure(spec_path, Path(tmp) / f"{name}-{i}") for i in range(args.repeat)]
            result[name] = {
                key: [round(min(r[key] for r in runs), 2), round(max(r[key] for r in runs), 2)]
                for key in runs[0]
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
