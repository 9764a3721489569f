"""The subset of the Cloud Scheduler REST API v1 that `dayflow schedule` uses, over a
LocalScheduler, so that `google.cloud.scheduler_v1.CloudSchedulerClient` (REST transport) drives
the local scheduler unchanged.

Routes (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs):
`GET /v1/projects/{p}/locations/{l}/jobs`, `GET .../jobs/{j}`, `POST .../jobs/{j}:pause`,
`POST .../jobs/{j}:resume`, `POST .../jobs/{j}:run`. Jobs are the spec's; creating, updating
and deleting them is infra's business in GCP and the spec's locally, so those routes are absent
(404). Errors use Google's JSON error shape.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dayflow.errors import NotFoundError
from dayflow.local.scheduler import OK, JobState, LocalScheduler

_JOBS = "/v1/projects/{project}/locations/{location}/jobs"
_STATE = {True: "PAUSED", False: "ENABLED"}


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message", "status"}}`."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


def to_resource(state: JobState, scheduler: LocalScheduler) -> dict[str, Any]:
    """A job as the REST API shows it (`google.cloud.scheduler.v1.Job` in JSON, camelCase)."""
    job = state.job
    retry = job.retry
    resource: dict[str, Any] = {
        "name": job.get_name(scheduler.project, scheduler.location),
        "description": job.description,
        "httpTarget": {
            "uri": job.get_uri(scheduler.job_runner_url),
            "httpMethod": job.http_method,
            "body": base64.b64encode(b"").decode(),
        },
        "schedule": job.schedule,
        "timeZone": job.time_zone,
        "userUpdateTime": _timestamp(state.user_update_time),
        "state": _STATE[state.paused],
        "scheduleTime": _timestamp(state.schedule_time),
        "lastAttemptTime": _timestamp(state.last_attempt_time),
        "retryConfig": {
            "retryCount": retry.retry_count,
            "maxRetryDuration": "0s",
            "minBackoffDuration": _duration(retry.min_backoff),
            "maxBackoffDuration": _duration(retry.max_backoff),
            "maxDoublings": retry.max_doublings,
        },
        "attemptDeadline": _duration(job.attempt_deadline),
    }
    if state.status is not None and state.status.code != OK:
        resource["status"] = {"code": state.status.code, "message": state.status.message}
    return {key: value for key, value in resource.items() if value is not None}


def create_app(scheduler: LocalScheduler) -> FastAPI:
    """The REST app over `scheduler` (resource names use its project and location)."""
    app = FastAPI(title="dayflow local Cloud Scheduler API")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        body = {"error": {"code": err.code, "message": err.message, "status": err.status}}
        return JSONResponse(body, status_code=err.code)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, err: NotFoundError) -> JSONResponse:
        return await api_error(request, ApiError(404, "NOT_FOUND", str(err)))

    def check_parent(project: str, location: str) -> None:
        if (project, location) != (scheduler.project, scheduler.location):
            raise ApiError(
                404,
                "NOT_FOUND",
                f"location projects/{project}/locations/{location} not found (expected "
                f"projects/{scheduler.project}/locations/{scheduler.location})",
            )

    @app.get(_JOBS)
    def list_jobs(project: str, location: str) -> dict[str, Any]:
        check_parent(project, location)
        return {"jobs": [to_resource(state, scheduler) for state in scheduler.list_jobs()]}

    @app.get(_JOBS + "/{job}")
    def get_job(project: str, location: str, job: str) -> dict[str, Any]:
        check_parent(project, location)
        return to_resource(scheduler.get_job(job), scheduler)

    @app.post(_JOBS + "/{job}:pause")
    def pause_job(project: str, location: str, job: str) -> dict[str, Any]:
        check_parent(project, location)
        return to_resource(scheduler.pause(job), scheduler)

    @app.post(_JOBS + "/{job}:resume")
    def resume_job(project: str, location: str, job: str) -> dict[str, Any]:
        check_parent(project, location)
        return to_resource(scheduler.resume(job), scheduler)

    @app.post(_JOBS + "/{job}:run")
    def run_job(project: str, location: str, job: str) -> dict[str, Any]:
        check_parent(project, location)
        return to_resource(scheduler.run(job), scheduler)

    return app
