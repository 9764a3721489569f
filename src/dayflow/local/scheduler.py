"""The local scheduler: runs each pipeline's Cloud Scheduler job (`dayflow.schedules`) against
the local job-runner, as Cloud Scheduler does in GCP.

- A scheduled time fires POST `{job_runner}/triggers/<pipeline>` with Cloud Scheduler's headers
  (`X-CloudScheduler: true`, `X-CloudScheduler-JobName`, `X-CloudScheduler-ScheduleTime` in
  RFC 3339 UTC; https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#HttpTarget).
- An attempt fails without a 2xx answer in the attempt deadline; it is retried with the same
  schedule time after the job's backoff, `retry_count` times or until the next scheduled time
  (`RetryPolicy`). One attempt at a time: a job never has two deliveries outstanding.
- Pause stops a job (its pending retry too); resume takes it up at the next scheduled time after
  now (the times missed while paused do not fire, as in Cloud Scheduler). `run` forces one
  attempt now, with now as its schedule time, paused or not.
- Paused state and the last attempt (time, schedule time, status) are kept in a JSON file across
  restarts. The next time is computed at start from now: times missed while the stack was down
  do not fire (a pipeline's `catch_up` covers missed partitions).
- Time comes from an injectable `Clock`, so a test runs the schedule forward in virtual time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from dayflow.errors import NotFoundError
from dayflow.schedules import SchedulerJob, format_schedule_time

logger = logging.getLogger(__name__)

MAX_KEPT_DELIVERIES = 1000
# gRPC codes of `Job.status` for an attempt's HTTP answer (google.rpc.Code, as Google's
# HTTP-to-gRPC mapping in google.api_core.exceptions reads them).
OK, DEADLINE_EXCEEDED, UNAVAILABLE, UNKNOWN = 0, 4, 14, 2
_HTTP_TO_CODE = {
    400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 412: 9, 429: 8, 499: 1,
    500: 13, 501: 12, 502: 14, 503: 14, 504: 4,
}  # fmt: skip


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class AttemptStatus:
    """The outcome of a job's last attempt, as `Job.status` (a google.rpc.Status) holds it."""

    code: int
    message: str = ""


@dataclass(frozen=True)
class Delivery:
    """One attempt: the schedule time it carried and what the target answered."""

    job_id: str
    schedule_time: datetime
    attempt_time: datetime
    retry: int  # 0 for the first attempt of a schedule time
    status: AttemptStatus
    response: Any = None  # the target's JSON answer, when it sent one


@dataclass
class JobState:
    """What the scheduler knows of one job beyond its definition."""

    job: SchedulerJob
    paused: bool
    user_update_time: datetime
    next_time: datetime | None = None  # the next scheduled time (None: paused or never)
    last_attempt_time: datetime | None = None
    last_schedule_time: datetime | None = None
    status: AttemptStatus | None = None
    # A failed attempt waiting for its retry: (due, schedule time, retry number).
    retry: tuple[datetime, datetime, int] | None = None
    # Forced runs waiting to be delivered (their schedule times).
    forced: list[datetime] = field(default_factory=list)

    @property
    def schedule_time(self) -> datetime | None:
        """When the job next runs (`Job.schedule_time`): a pending retry or the next scheduled
        time."""
        if self.paused:
            return None
        due = [t for t in (self.next_time, self.retry[0] if self.retry else None) if t]
        return min(due, default=None)


class LocalScheduler:
    """Cloud Scheduler for the local stack: the jobs of a spec's pipelines, firing at
    `job_runner_url`. `run_pending()` delivers everything due; `serve_forever` does so as time
    passes."""

    def __init__(
        self,
        jobs: Sequence[SchedulerJob],
        job_runner_url: str,
        *,
        state_file: Path | None = None,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        project: str = "local",
        location: str = "us-central1",
    ) -> None:
        self.job_runner_url = job_runner_url
        self.state_file = state_file
        self.clock = clock or SystemClock()
        self.http = http or httpx.Client()
        self.project, self.location = project, location
        # The latest attempts, oldest first (for tests and logs; bounded for a long-lived stack).
        self.deliveries: deque[Delivery] = deque(maxlen=MAX_KEPT_DELIVERIES)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        now = self.clock.now()
        saved = self._load()
        self._states: dict[str, JobState] = {}
        for job in jobs:
            state = JobState(job, job.paused, now)
            _restore(state, saved.get(job.job_id) or {})
            state.next_time = None if state.paused else job.get_next_fire_time(now)
            self._states[job.job_id] = state

    # --- the API's operations ------------------------------------------------------------------

    def list_jobs(self) -> list[JobState]:
        with self._lock:
            return [_copy(s) for s in self._states.values()]

    def get_job(self, job_id: str) -> JobState:
        with self._lock:
            return _copy(self._get(job_id))

    def pause(self, job_id: str) -> JobState:
        """Pause a job: nothing fires (nor retries) until it is resumed."""
        with self._lock:
            state = self._get(job_id)
            state.paused, state.next_time, state.retry = True, None, None
            state.user_update_time = self.clock.now()
            self._save()
            return _copy(state)

    def resume(self, job_id: str) -> JobState:
        """Resume a job at its next scheduled time after now."""
        with self._lock:
            state = self._get(job_id)
            now = self.clock.now()
            if state.paused:
                state.paused, state.user_update_time = False, now
                state.next_time = state.job.get_next_fire_time(now)
                self._save()
        self._wake.set()
        return self.get_job(job_id)

    def run(self, job_id: str) -> JobState:
        """Force one attempt now (delivered by `run_pending`), with now as its schedule time."""
        with self._lock:
            state = self._get(job_id)
            state.forced.append(self.clock.now())
        self._wake.set()
        return self.get_job(job_id)

    # --- firing --------------------------------------------------------------------------------

    def run_pending(self) -> list[Delivery]:
        """Deliver every attempt due by now, oldest first; return them."""
        done: list[Delivery] = []
        while (taken := self._take_due()) is not None:
            state, due, schedule_time, retry = taken
            delivery = self._deliver(state.job, due, schedule_time, retry)
            self._record(state, delivery)
            done.append(delivery)
        return done

    def get_next_due(self) -> datetime | None:
        """When the next attempt is due (None: nothing will fire)."""
        with self._lock:
            times = [t for s in self._states.values() for t in (s.schedule_time, *s.forced) if t]
            return min(times, default=None)

    def serve_forever(self, stop: threading.Event, max_wait: float = 30.0) -> None:
        """Deliver attempts as they fall due, on the system clock, until `stop` is set."""
        while not stop.is_set():
            try:
                self.run_pending()
            except Exception:  # one bad job must not stop every schedule
                logger.exception("delivering scheduled attempts failed")
            due = self.get_next_due()
            wait = max_wait if due is None else (due - self.clock.now()).total_seconds()
            self._wake.wait(min(max(wait, 0.0), max_wait))
            self._wake.clear()

    def wake(self) -> None:
        """Make `serve_forever` look again at once (after a change, or to stop)."""
        self._wake.set()

    def close(self) -> None:
        self.http.close()

    def _take_due(self) -> tuple[JobState, datetime, datetime, int] | None:
        """The earliest attempt due by now, taken off its job's queue: (job, when it was due,
        schedule time, retry number)."""
        with self._lock:
            now = self.clock.now()
            best: tuple[datetime, JobState, str] | None = None
            for state in self._states.values():
                candidates = [(t, "forced") for t in state.forced[:1]]
                if not state.paused and state.next_time is not None:
                    candidates.append((state.next_time, "scheduled"))
                if not state.paused and state.retry is not None:
                    candidates.append((state.retry[0], "retry"))
                for due, kind in candidates:
                    if due <= now and (best is None or due < best[0]):
                        best = (due, state, kind)
            if best is None:
                return None
            due, state, kind = best
            if kind == "forced":
                return state, due, state.forced.pop(0), 0
            if kind == "retry":
                assert state.retry is not None
                _, schedule_time, retry = state.retry
                state.retry = None
                return state, due, schedule_time, retry
            # A scheduled time supersedes a pending retry of an earlier one (retries stop at
            # the next scheduled time).
            state.retry = None
            state.next_time = state.job.get_next_fire_time(due)
            return state, due, due, 0

    def _deliver(
        self, job: SchedulerJob, due: datetime, schedule_time: datetime, retry: int
    ) -> Delivery:
        # An attempt is dated when it fell due: on the system clock that is now (the loop wakes
        # then); in virtual time, run forward in one step, the backoffs stay as scheduled.
        attempt_time = due
        headers = {
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": job.job_id,
            "X-CloudScheduler-ScheduleTime": format_schedule_time(schedule_time),
            "User-Agent": "Google-Cloud-Scheduler",
        }
        response = None
        try:
            answer = self.http.request(
                job.http_method,
                job.get_uri(self.job_runner_url),
                headers=headers,
                timeout=job.attempt_deadline.total_seconds(),
            )
        except httpx.TimeoutException as err:
            status = AttemptStatus(DEADLINE_EXCEEDED, f"no answer in the attempt deadline: {err}")
        except httpx.HTTPError as err:
            status = AttemptStatus(UNAVAILABLE, f"{type(err).__name__}: {err}")
        else:
            try:
                response = answer.json()
            except ValueError:
                response = None
            if answer.is_success:
                status = AttemptStatus(OK)
            else:
                code = _HTTP_TO_CODE.get(answer.status_code, 9 if answer.status_code < 500 else 13)
                status = AttemptStatus(code, f"HTTP {answer.status_code}: {answer.text[:500]}")
        return Delivery(job.job_id, schedule_time, attempt_time, retry, status, response)

    def _record(self, state: JobState, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)
            state.last_attempt_time = delivery.attempt_time
            state.last_schedule_time = delivery.schedule_time
            state.status = delivery.status
            policy = state.job.retry
            if delivery.status.code != OK and delivery.retry < policy.retry_count:
                retry = delivery.retry + 1
                due = delivery.attempt_time + policy.get_backoff(retry)
                if state.next_time is None or due < state.next_time:
                    state.retry = (due, delivery.schedule_time, retry)
            self._save()

    # --- state ---------------------------------------------------------------------------------

    def _get(self, job_id: str) -> JobState:
        state = self._states.get(job_id)
        if state is None:
            known = ", ".join(self._states) or "none"
            raise NotFoundError(f"job {job_id!r} not found (expected one of: {known})")
        return state

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.state_file is None or not self.state_file.is_file():
            return {}
        try:
            data = json.loads(self.state_file.read_text())
        except ValueError:
            logger.warning("ignoring the unreadable scheduler state %s", self.state_file)
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {job_id: _dump(state) for job_id, state in self._states.items()}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_file)


def _copy(state: JobState) -> JobState:
    return replace(state, forced=list(state.forced))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _dump(state: JobState) -> dict[str, Any]:
    return {
        "paused": state.paused,
        "user_update_time": _time(state.user_update_time),
        "last_attempt_time": _time(state.last_attempt_time),
        "last_schedule_time": _time(state.last_schedule_time),
        "status": None if state.status is None else vars(state.status),
    }


def _restore(state: JobState, saved: dict[str, Any]) -> None:
    """Take a job's saved state (a job new to the spec keeps its defaults)."""
    if isinstance(saved.get("paused"), bool):
        state.paused = saved["paused"]
    state.user_update_time = _parse(saved.get("user_update_time")) or state.user_update_time
    state.last_attempt_time = _parse(saved.get("last_attempt_time"))
    state.last_schedule_time = _parse(saved.get("last_schedule_time"))
    status = saved.get("status")
    if isinstance(status, dict) and isinstance(status.get("code"), int):
        state.status = AttemptStatus(status["code"], str(status.get("message") or ""))
