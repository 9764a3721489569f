"""The job-runner: a FastAPI app for Cloud Run. Serve with `uvicorn job_runner.main:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from job_runner.api.routes import backfills, health, pipelines, runs
from job_runner.core.config import JobRunnerSettings
from job_runner.errors import add_error_handlers


def create_app(settings: JobRunnerSettings | None = None) -> FastAPI:
    """Build the app. Settings are read on the first request unless given here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runner = getattr(app.state, "runner", None)
        if runner is not None:
            runner.close()

    app = FastAPI(title="dayflow job-runner", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    add_error_handlers(app)
    app.include_router(health.router)
    app.include_router(runs.router)
    app.include_router(pipelines.router)
    app.include_router(backfills.router)
    return app


app = create_app()
