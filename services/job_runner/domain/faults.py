"""Fault injection for resilience tests: transient (503) and permanent (422) run failures, and
a run that hangs once its BigQuery job is submitted (for crash tests).

Only active when the `faults_file` setting names a file; it is re-read on every run, so a test
"fixes the cause" by deleting it. The file is JSON:
`{"transient_rate": 0.2, "permanent_partitions": ["2024-01-05"], "seed": 7,
  "hang_after_submit": ["2024-01-09"], "hold_partitions": ["2024-02-01"]}`. A hanging run
first creates the file `<faults file>.hanging-<partition_key>`, so a test knows when to kill
the process. A held run waits (before anything else) until its key leaves `hold_partitions`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

from dayflow.errors import WarehouseError


class Faults:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._random: random.Random | None = None

    def check(self, partition_key: str) -> None:
        """Wait while this run is held; then raise the injected failure for it, if any."""
        try:
            config = json.loads(self.path.read_text())
            while partition_key in config.get("hold_partitions", []):
                time.sleep(0.02)
                config = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        if partition_key in config.get("permanent_partitions", []):
            raise WarehouseError(
                f"injected permanent failure for partition {partition_key}", transient=False
            )
        with self._lock:
            if self._random is None:
                self._random = random.Random(config.get("seed", 0))  # noqa: S311 (test faults, not crypto)
            failing = self._random.random() < float(config.get("transient_rate", 0))
        if failing:
            raise WarehouseError("injected transient failure", transient=True)

    def hang_after_submit(self, partition_key: str) -> None:
        """Hang (until the process is killed) if the file lists this partition."""
        try:
            config = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        if partition_key in config.get("hang_after_submit", []):
            self.path.with_name(f"{self.path.name}.hanging-{partition_key}").touch()
            while True:
                time.sleep(60)
