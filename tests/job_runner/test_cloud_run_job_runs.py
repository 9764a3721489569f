"""A `cloud_run_job` run end to end, locally: POST /runs on the real job-runner app runs the
job's command as a subprocess against the BigQuery emulator, records the run with the rows of
its destination's partition, and a rerun leaves the partition's checksum as it was."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from dayflow.local.stack import create_warehouse
from dayflow.spec import load_spec
from job_runner.core.config import JobRunnerSettings
from job_runner.main import create_app
from tests.conftest import Server

# The job: the day's rows replace exactly its partition (DELETE + INSERT in one transaction),
# through BigQuery's REST `jobs.query` with the standard library only (importing
# google-cloud-bigquery costs a subprocess seconds on a busy machine).
JOB = """
import json, os, urllib.request

def query(sql, params=()):
    body = {"query": sql, "useLegacySql": False, "queryParameters": list(params)}
    url = os.environ["DAYFLOW_BIGQUERY_ENDPOINT"] + "/bigquery/v2/projects/local/queries"
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        result = json.load(answer)
    assert result.get("jobComplete", True) and not result.get("errors"), result

table = os.environ["DAYFLOW_DESTINATION_TABLE"]
day = {"name": "day", "parameterType": {"type": "DATE"},
       "parameterValue": {"value": os.environ["DAYFLOW_PARTITION_DATE"]}}
tag = {"name": "tag", "parameterType": {"type": "STRING"}, "parameterValue": {"value": os.environ["TAG"]}}
query(f"CREATE TABLE IF NOT EXISTS `{table}` (d DATE, n INT64, tag STRING) PARTITION BY d")
query(
    f"BEGIN TRANSACTION; DELETE FROM `{table}` WHERE d = @day; "
    f"INSERT INTO `{table}` SELECT @day, n, @tag FROM UNNEST(GENERATE_ARRAY(1, 3)) AS n; "
    "COMMIT TRANSACTION;",
    [day, tag],
)
print("wrote", os.environ["DAYFLOW_RUN_ID"])
"""


@pytest.fixture(scope="module")
def http(
    tmp_path_factory: pytest.TempPathFactory, bigquery_endpoint: str
) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("cloud-run-job")
    (root / "jobs").mkdir()
    (root / "jobs" / "write_day.py").write_text(JOB)
    job: dict[str, Any] = {
        "kind": "cloud_run_job",
        "command": ["python", "jobs/write_day.py"],
        "env": {"TAG": "scored"},
        "timeout_seconds": 120,
        "destination": {"dataset": "mart", "table": "scores", "partition_field": "d"},
    }
    spec = {
        "version": 1,
        "name": "crj",
        "environments": {"local": {"gcp_project": "local", "dataset_prefix": _prefix()}},
        "pipelines": {
            "daily": {
                "granularity": "day",
                "timezone": "Europe/Stockholm",
                "schedule": "0 2 * * *",
                "start": "2024-01-01",
                "jobs": {
                    "score": job,
                    "broken": {"kind": "cloud_run_job", "command": ["python", "-c", "1/0"]},
                },
            }
        },
    }
    spec_path = root / "dayflow.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    create_warehouse(load_spec(spec_path), bigquery_endpoint)
    app = create_app(JobRunnerSettings(spec_path=spec_path, bigquery_endpoint=bigquery_endpoint))
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}_"


def run(http: httpx.Client, job: str, key: str) -> dict[str, Any]:
    response = http.post("/runs", json={"pipeline": "daily", "job": job, "partition_key": key})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def checksum(http: httpx.Client, key: str) -> list[dict[str, Any]]:
    response = http.get("/pipelines/daily/checksums", params={"start": key, "end": key})
    response.raise_for_status()
    tables: list[dict[str, Any]] = response.json()["partitions"][0]["tables"]
    return tables


def test_cloud_run_job_runs_locally_and_reruns_leave_its_partition_unchanged(
    http: httpx.Client,
) -> None:
    first = run(http, "score", "2024-01-03")
    assert (first["status"], first["rows_written"]) == ("succeeded", 3)
    before = checksum(http, "2024-01-03")
    assert before[0]["table"].endswith("_mart.scores") and before[0]["rows"] == 3

    again = run(http, "score", "2024-01-03")

    assert (again["status"], again["rows_written"], again["attempt"]) == ("succeeded", 3, 2)
    assert checksum(http, "2024-01-03") == before


def test_cloud_run_job_failure_is_recorded_permanent_with_its_output(http: httpx.Client) -> None:
    response = http.post(
        "/runs", json={"pipeline": "daily", "job": "broken", "partition_key": "2024-01-03"}
    )

    assert response.status_code == 422  # permanent: the caller does not retry
    assert response.json()["detail"].endswith(
        'exited with code 1: Traceback (most recent call last): |   File "<string>", line 1, '
        "in <module> |     1/0 |     ~^~ | ZeroDivisionError: division by zero"
    )
