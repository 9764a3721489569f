"""Each pipeline's freshness (dayflow.freshness), read from the run ledger; and the check that
Cloud Scheduler calls, which logs one line per pipeline for the freshness alert."""

from __future__ import annotations

import logging
from datetime import timedelta

from dayflow.freshness import Freshness, get_freshness, get_lookback_start
from job_runner.domain.runner import JobRunner

_log = logging.getLogger("dayflow.freshness")


def read_freshness(runner: JobRunner, pipeline_name: str | None = None) -> list[Freshness]:
    """The freshness of one pipeline (`pipeline_name`) or of every pipeline of the spec."""
    now = runner.now()
    names = [pipeline_name] if pipeline_name else list(runner.spec.pipelines)
    result = []
    for name in names:
        pipeline = runner.get_pipeline(name)
        scheme = pipeline.scheme
        first = scheme.get_partition_date(scheme.get_partition_key_for_time(
            get_lookback_start(pipeline, now)))  # fmt: skip
        last = scheme.get_partition_date(scheme.get_partition_key_for_time(now)) + timedelta(1)
        states = runner.ledger.get_states(name, first, last)
        result.append(get_freshness(name, pipeline, states, now))
    return result


def check_freshness(runner: JobRunner) -> list[Freshness]:
    """Read every pipeline's freshness and log it: the freshness alert counts the stale lines,
    and the absence of any line (the check itself stopped) alerts too."""
    checked = read_freshness(runner)
    for freshness in checked:
        stale = freshness.stale
        _log.log(
            logging.ERROR if stale else logging.INFO,
            "freshness of %s: %s%s",
            freshness.pipeline,
            freshness.describe(),
            " STALE" if stale else "",
            extra={
                "pipeline": freshness.pipeline,
                "freshness_stale": bool(stale),
                "freshness_age_seconds": (
                    int(freshness.age.total_seconds()) if freshness.age is not None else None
                ),
            },
        )
    return checked
