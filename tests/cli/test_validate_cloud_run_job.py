"""`dayflow validate` on a bad `cloud_run_job`: one line, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import RunCli
from tests.test_spec_cloud_run_job import GOOD, write


def test_validate_refuses_a_cloud_run_job_setting_dayflow_variables(
    cli: RunCli, tmp_path: Path
) -> None:
    path = write(tmp_path, {**GOOD, "env": {"dayflow_run_id": "x"}})

    result = cli("validate", "--spec", str(path))

    assert result.code == 2
    assert result.err_lines == [
        f"error: {path}: pipelines.daily.jobs.score.env: env 'dayflow_run_id' is set by dayflow for "
        "each partition (expected names that do not start with DAYFLOW_)"
    ]
