"""The `cloud_run_job` executors: Cloud Run through the real run_v2 clients against a REST fake
(tests/job_runner/cloud_run_fake.py), and the local subprocess stand-in."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dayflow.errors import WarehouseError
from job_runner.clients.cloud_run import CloudRunJobsApi
from job_runner.domain.cloud_run_jobs import (
    OUTPUT_TAIL_CHARS,
    CloudRunExecutor,
    JobExecution,
    LocalProcessExecutor,
    get_output_tail,
)
from tests.job_runner.cloud_run_fake import FakeCloudRun

JOB = "dayflow-shop-daily-score"
ENV = {"DAYFLOW_PARTITION_KEY": "2024-01-03", "DAYFLOW_ATTEMPT": "2", "MY_SETTING": "x"}


def execution(tmp_path: Path, *command: str, timeout: int = 60) -> JobExecution:
    return JobExecution(
        job=JOB, command=command, args=(), env=dict(ENV), timeout_seconds=timeout, cwd=tmp_path
    )


@pytest.fixture
def fake() -> Iterator[tuple[FakeCloudRun, CloudRunExecutor]]:
    fake = FakeCloudRun()
    server, url = fake.start()
    api = CloudRunJobsApi.create(url)
    yield fake, CloudRunExecutor(api, "acme-dev", "europe-north1", poll_initial_seconds=0.02)
    api.close()
    server.shutdown()
    server.server_close()


def test_cloud_run_job_executes_with_the_partition_in_env_overrides(
    fake: tuple[FakeCloudRun, CloudRunExecutor], tmp_path: Path
) -> None:
    server, executor = fake
    server.polls = 2

    result = executor.execute(execution(tmp_path, "python", "job.py", timeout=120))

    (run,) = server.runs
    assert run["job"] == f"projects/acme-dev/locations/europe-north1/jobs/{JOB}"
    overrides = run["body"]["overrides"]
    (container,) = overrides["containerOverrides"]
    assert {e["name"]: e["value"] for e in container["env"]} == ENV
    assert overrides["timeout"] == "120s"  # the task timeout follows the spec
    assert "args" not in container  # the job's own command and args stay as infra set them
    assert result.details["succeeded"] == 1
    assert result.details["execution"].endswith(f"/jobs/{JOB}/executions/{JOB}-x1")


def test_cloud_run_job_failed_tasks_are_permanent(
    fake: tuple[FakeCloudRun, CloudRunExecutor], tmp_path: Path
) -> None:
    server, executor = fake
    server.behaviour = "fail"

    with pytest.raises(WarehouseError) as caught:
        executor.execute(execution(tmp_path, "python", "job.py"))

    err = caught.value
    assert not err.transient
    assert str(err).startswith(
        f"Cloud Run Job {JOB} failed: 1 of 1 tasks failed after the job's own retries"
    )
    assert "exit code 1" in str(err)
    assert err.details and err.details[0]["failed"] == 1
    assert server.cancelled == []


def test_cloud_run_job_timeout_is_transient_and_cancels_the_execution(
    fake: tuple[FakeCloudRun, CloudRunExecutor], tmp_path: Path
) -> None:
    server, executor = fake
    server.behaviour = "hang"

    with pytest.raises(WarehouseError, match=rf"^Cloud Run Job {JOB} did not finish within 1 s"):
        executor.execute(execution(tmp_path, "python", "job.py", timeout=1))

    assert server.cancelled == [
        f"projects/acme-dev/locations/europe-north1/jobs/{JOB}/executions/{JOB}-x1"
    ]


@pytest.mark.parametrize(
    ("behaviour", "transient", "message"),
    [
        ("unavailable", True, "The service is currently unavailable."),
        ("missing", False, f"Resource '{JOB}' was not found"),
    ],
)
def test_cloud_run_api_errors_are_transient_only_when_unavailable(
    fake: tuple[FakeCloudRun, CloudRunExecutor],
    tmp_path: Path,
    behaviour: str,
    transient: bool,
    message: str,
) -> None:
    server, executor = fake
    server.behaviour = behaviour

    with pytest.raises(WarehouseError) as caught:
        executor.execute(execution(tmp_path, "python", "job.py"))

    assert caught.value.transient is transient
    assert str(caught.value) == f"Cloud Run Job {JOB} could not be executed: {message}"


def test_local_job_runs_in_the_spec_directory_with_the_partition_env(tmp_path: Path) -> None:
    script = (
        "import json, os, pathlib; "
        "pathlib.Path('seen.json').write_text(json.dumps(dict(os.environ)))"
    )
    result = LocalProcessExecutor("http://127.0.0.1:9050").execute(
        execution(tmp_path, "python", "-c", script)
    )

    seen = (tmp_path / "seen.json").read_text()
    import json

    env = json.loads(seen)
    assert {k: env[k] for k in ENV} == ENV
    assert env["DAYFLOW_BIGQUERY_ENDPOINT"] == "http://127.0.0.1:9050"
    assert not any(k.startswith("JOB_RUNNER_") for k in env)  # nothing of the runner leaks
    # `python` is the job-runner's own interpreter, as the image's venv is first on its PATH.
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert result.details["exit_code"] == 0


def test_local_job_exit_code_is_permanent_with_its_output_tail(tmp_path: Path) -> None:
    script = "import sys; print('reading staging'); sys.exit('no rows for 2024-01-03')"

    with pytest.raises(WarehouseError) as caught:
        LocalProcessExecutor(None).execute(execution(tmp_path, "python", "-c", script))

    assert not caught.value.transient
    assert str(caught.value) == (
        f"cloud_run_job {JOB} exited with code 1: reading staging | no rows for 2024-01-03"
    )


def test_local_job_timeout_is_transient_and_kills_it(tmp_path: Path) -> None:
    script = "import time; time.sleep(60)"

    with pytest.raises(WarehouseError) as caught:
        LocalProcessExecutor(None).execute(execution(tmp_path, "python", "-c", script, timeout=1))

    assert caught.value.transient
    assert str(caught.value) == (
        f"cloud_run_job {JOB} did not finish within 1 s (timeout_seconds); it was killed"
    )


def test_local_job_missing_command_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match=r"cannot start 'no-such-tool' in ") as caught:
        LocalProcessExecutor(None).execute(execution(tmp_path, "no-such-tool"))
    assert not caught.value.transient


def test_output_tail_is_bounded() -> None:
    tail = get_output_tail("\n".join(f"line {i} " + "x" * 200 for i in range(100)))
    assert len(tail) == OUTPUT_TAIL_CHARS + 3
    assert tail.endswith("x")
    assert get_output_tail("\n\n") == "(no output)"
