"""Liveness, and the in-flight counters that concurrency tests read."""

from __future__ import annotations

from fastapi import APIRouter

from job_runner.api.deps import RunnerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/stats")
def read_stats(runner: RunnerDep, reset: bool = False) -> dict[str, int]:
    """Runs in flight now and the most at once since start (or the last reset)."""
    current = runner.in_flight.current
    maximum = runner.in_flight.reset() if reset else runner.in_flight.maximum
    return {"runs_in_flight": current, "max_runs_in_flight": maximum}
