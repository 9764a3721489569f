"""Infra's Cloud Scheduler jobs and the local scheduler's come from one definition
(dayflow.schedules): the deployed job's arguments are that definition's, and the local
scheduler's REST resource shows the same name, cron, time zone, retry config and deadline."""

from __future__ import annotations

from pulumi_harness import Deployment, T

from dayflow.infra.components.orchestration import get_job_args
from dayflow.local.scheduler import LocalScheduler
from dayflow.local.scheduler_api import to_resource
from dayflow.schedules import make_scheduler_job


def test_deployed_and_local_jobs_share_the_scheduler_job_definition(dev: Deployment) -> None:
    deployed = dev.of_type(T.SCHEDULE)
    assert deployed
    for resource in deployed:
        state = resource.state
        pipeline = state["httpTarget"]["uri"].rsplit("/triggers/", 1)[1]
        job = make_scheduler_job(
            pipeline, state["schedule"], state["timeZone"], paused=state["paused"]
        )
        args = get_job_args(job)
        assert state["name"] == args["name"] == job.job_id
        assert state["description"] == job.description
        assert state["attemptDeadline"] == args["attempt_deadline"] == "60s"
        assert state["retryConfig"] == {
            "retryCount": 3,
            "minBackoffDuration": "10s",
            "maxBackoffDuration": "300s",
            "maxDoublings": 3,
        }
        assert state["httpTarget"]["httpMethod"] == job.http_method

        scheduler = LocalScheduler([job], "http://127.0.0.1:8080")
        local = to_resource(scheduler.get_job(job.job_id), scheduler)
        scheduler.close()
        assert local["name"].endswith(f"/jobs/{state['name']}")
        assert (local["schedule"], local["timeZone"]) == (state["schedule"], state["timeZone"])
        assert local["attemptDeadline"] == state["attemptDeadline"]
        assert local["httpTarget"]["httpMethod"] == state["httpTarget"]["httpMethod"]
        assert local["httpTarget"]["uri"].endswith(f"/triggers/{pipeline}")
        assert {k: local["retryConfig"][k] for k in state["retryConfig"]} == state["retryConfig"]
