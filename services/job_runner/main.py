"""The job-runner: a FastAPI app for Cloud Run. Serve with `uvicorn job_runner.main:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dayflow.logs import configure_logging
from job_runner.api.body_limit import BodyLimitMiddleware
from job_runner.api.callers import add_caller_checks, log_caller_checks
from job_runner.api.request_id import RequestIdMiddleware
from job_runner.api.routes import backfills, freshness, health, pipelines, runs
from job_runner.api.trace import TraceMiddleware
from job_runner.core.config import JobRunnerSettings, get_settings
from job_runner.errors import UnexpectedErrorMiddleware, add_error_handlers
from job_runner.models import ERROR_RESPONSES
from job_runner.ui import routes as ui


def create_app(
    settings: JobRunnerSettings | None = None, *, configure_logs: bool = False
) -> FastAPI:
    """Build the app. Settings are read on the first request unless given here.

    `configure_logs`: send the process's log records to stdout as the settings say
    (dayflow.logs); the served app (`app` below) does, an app embedded in another process (a
    test, a benchmark) leaves that process's logging alone.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = app.state.settings or get_settings()
        if configure_logs:
            configure_logging(settings.log_format, settings.gcp_project)
        log_caller_checks(settings)
        yield
        runner = getattr(app.state, "runner", None)
        if runner is not None:
            runner.close()

    app = FastAPI(
        title="dayflow job-runner",
        version="0.1.0",
        lifespan=lifespan,
        # Every route may answer these; each route documents its own 4xx besides.
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings

    def get_max_body_bytes() -> int:
        return (app.state.settings or get_settings()).max_body_bytes

    add_error_handlers(app)
    add_caller_checks(app)  # before the routers: it applies to routes included after it
    # The last added is outermost: the request id exists before anything answers.
    app.add_middleware(BodyLimitMiddleware, get_max_bytes=get_max_body_bytes)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(TraceMiddleware)
    app.include_router(health.router)
    app.include_router(runs.router)
    app.include_router(pipelines.router)
    app.include_router(backfills.router)
    app.include_router(freshness.router)
    app.include_router(ui.router)
    return app


app = create_app(configure_logs=True)
