"""A BigQuery client whose chosen query jobs stay RUNNING until a condition holds.

Fake only at the GCP boundary: everything is delegated to the real client (the emulator); only
the completion of the query jobs whose id contains `marker` is delayed, as BigQuery reports a
long job (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs): `jobs.insert` answers
at once with the job RUNNING, `jobs.get` keeps answering RUNNING, and the job turns DONE later.
A second `jobs.insert` with the same id is the emulator's own 409.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class SlowJob:
    """A query job of the real client whose completion waits for `finished()`."""

    def __init__(self, job: Any, finished: Callable[[], bool]) -> None:
        self._job = job
        self._finished = finished

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    @property
    def state(self) -> str:
        return str(self._job.state) if self._finished() else "RUNNING"

    def done(self, *args: Any, **kwargs: Any) -> bool:
        return self._finished() and bool(self._job.done(*args, **kwargs))

    def result(self, *args: Any, **kwargs: Any) -> Any:
        # The client library polls jobs.get until DONE; here the poll is a short real sleep.
        while not self._finished():
            time.sleep(0.002)
        return self._job.result(*args, **kwargs)


class SlowJobsClient:
    """Delegates to `client`; query jobs whose id contains `marker` finish when
    `finished(job_id)` (re-evaluated on every look) is true. Records every such job id."""

    def __init__(self, client: Any, marker: str, finished: Callable[[str], bool]) -> None:
        self._client = client
        self._marker = marker
        self._finished = finished
        self._lock = threading.Lock()
        self.slow_job_ids: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, sql: str, *args: Any, job_id: str | None = None, **kwargs: Any) -> Any:
        job = self._client.query(sql, *args, job_id=job_id, **kwargs)
        if job_id is None or self._marker not in job_id:
            return job
        with self._lock:
            self.slow_job_ids.append(job_id)
        return SlowJob(job, lambda: self._finished(job_id))

    def get_job(self, job_id: str, *args: Any, **kwargs: Any) -> Any:
        job = self._client.get_job(job_id, *args, **kwargs)
        if self._marker in job_id:
            return SlowJob(job, lambda: self._finished(job_id))
        return job
