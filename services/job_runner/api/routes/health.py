"""Liveness, and the in-flight counters that concurrency tests read."""

from __future__ import annotations

from fastapi import APIRouter

from job_runner.api.deps import RunnerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/stats")
def read_stats(runner: RunnerDep) -> dict[str, int]:
    """Runs and partitions in flight now, and the most at once since start (or the last reset)."""
    return runner.in_flight.get_stats()


@router.post("/stats/reset")
def reset_stats(runner: RunnerDep) -> dict[str, int]:
    """Start the maximums over from what is in flight now; returns the stats before the reset."""
    return runner.in_flight.get_stats(reset=True)
