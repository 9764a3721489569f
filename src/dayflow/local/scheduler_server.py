"""Run the local scheduler as a server on 127.0.0.1 (started by `dayflow local up`).

    python -m dayflow.local.scheduler_server --port 8095 --spec dayflow.yaml \
        --job-runner-url http://127.0.0.1:8080 --state-file .dayflow/scheduler/jobs.json \
        [--project local] [--location us-central1]

Serves the Cloud Scheduler REST API subset of `dayflow.local.scheduler_api` on `--port` and
fires the spec's pipeline schedules at the job-runner as they fall due. Jobs start paused, as
in a dev stack, until `dayflow schedule resume PIPELINE`; that state is kept in `--state-file`.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from dayflow.errors import DayflowError
from dayflow.local.scheduler import LocalScheduler
from dayflow.local.scheduler_api import create_app
from dayflow.schedules import SchedulerJob, make_scheduler_job
from dayflow.spec import Spec, load_spec

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Local jobs start paused: a stack started for tests or a demo fires nothing by itself.
LOCAL_PAUSED = True


def get_local_jobs(spec: Spec) -> list[SchedulerJob]:
    """The Scheduler jobs of the spec's pipelines, as the local stack runs them."""
    return [
        make_scheduler_job(name, pipeline.schedule, pipeline.timezone, paused=LOCAL_PAUSED)
        for name, pipeline in spec.pipelines.items()
    ]


def serve(
    *,
    port: int,
    spec_path: Path,
    job_runner_url: str,
    state_file: Path,
    host: str = "127.0.0.1",
    project: str = "local",
    location: str = "us-central1",
) -> None:
    """Serve the API and fire the schedules until interrupted."""
    if host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"host {host!r} is not a loopback address (expected one of {LOOPBACK_HOSTS})"
        )
    scheduler = LocalScheduler(
        get_local_jobs(load_spec(spec_path)),
        job_runner_url,
        state_file=state_file,
        project=project,
        location=location,
    )
    stop = threading.Event()
    firing = threading.Thread(target=scheduler.serve_forever, args=(stop,), daemon=True)
    firing.start()
    try:
        uvicorn.run(create_app(scheduler), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        scheduler.wake()
        firing.join(10)
        scheduler.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dayflow.local.scheduler_server")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, required=True, help="REST API port")
    parser.add_argument("--spec", type=Path, required=True, help="the dayflow spec")
    parser.add_argument("--job-runner-url", required=True, help="where triggers are sent")
    parser.add_argument("--state-file", type=Path, required=True, help="JSON kept across starts")
    parser.add_argument("--project", default="local")
    parser.add_argument("--location", default="us-central1")
    args = parser.parse_args(argv)
    try:
        serve(
            port=args.port,
            spec_path=args.spec,
            job_runner_url=args.job_runner_url,
            state_file=args.state_file,
            host=args.host,
            project=args.project,
            location=args.location,
        )
    except (ValueError, DayflowError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
