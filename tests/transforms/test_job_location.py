"""Transform job statistics are read in the environment's BigQuery location.

A fake of the BigQuery jobs API behaves as https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/get
says for a job in a single region: `jobs.get` without `location` does not find it (404).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from dayflow.transforms import dataform, dbt
from dayflow.transforms.results import NodeResult

REGION = "europe-north1"
PROJECT = "acme-shop-dev"


class FakeJobsApi:
    """`GET /bigquery/v2/projects/P/jobs/ID` for INSERT jobs that wrote 7 rows in REGION."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                location = parse_qs(url.query).get("location", [None])[0]
                job_id = url.path.rsplit("/", 1)[-1]
                api.requests.append((job_id, location))
                if location != REGION:
                    self.reply(404, {"error": {"code": 404, "message": f"Not found: Job {PROJECT}:{job_id}",
                                               "errors": [{"reason": "notFound"}]}})  # fmt: skip
                    return
                self.reply(200, {
                    "kind": "bigquery#job",
                    "jobReference": {"projectId": PROJECT, "jobId": job_id, "location": REGION},
                    "configuration": {"query": {"query": "INSERT ..."}},
                    "status": {"state": "DONE"},
                    "statistics": {
                        "startTime": "1704412800000", "endTime": "1704412802500",
                        "query": {"statementType": "INSERT", "dmlStats": {"insertedRowCount": "7"}},
                    },
                })  # fmt: skip

            def reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def jobs_api() -> Iterator[FakeJobsApi]:
    api = FakeJobsApi()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


def model(job_id: str) -> NodeResult:
    return NodeResult(name="daily_sales", kind="model", status="succeeded", rows=None,
                      bigquery_job_ids=(job_id,))  # fmt: skip


def test_dbt_reads_its_jobs_in_the_environments_location(jobs_api: FakeJobsApi) -> None:
    [node] = dbt._with_rows(
        [model("dbt_job_1")], project=PROJECT, bigquery_endpoint=jobs_api.url,
        location=REGION, service_account=None,
    )  # fmt: skip
    assert jobs_api.requests == [("dbt_job_1", REGION)]
    assert node.rows == 7


def test_dataform_reads_its_jobs_in_the_environments_location(jobs_api: FakeJobsApi) -> None:
    [node] = dataform._with_job_stats(
        [model("df_job_1")], project=PROJECT, bigquery_endpoint=jobs_api.url,
        location=REGION, service_account=None,
    )  # fmt: skip
    assert jobs_api.requests == [("df_job_1", REGION)]
    assert (node.rows, node.seconds) == (7, 2.5)


def test_the_fake_answers_404_without_the_location(jobs_api: FakeJobsApi) -> None:
    """The failure this guards against: no location, no statistics (best effort: rows unknown)."""
    [node] = dbt._with_rows(
        [model("dbt_job_2")], project=PROJECT, bigquery_endpoint=jobs_api.url,
        location=None, service_account=None,
    )  # fmt: skip
    assert jobs_api.requests == [("dbt_job_2", None)]
    assert node.rows is None
