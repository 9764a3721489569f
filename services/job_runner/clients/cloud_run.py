"""The Cloud Run Admin API v2 (google-cloud-run's `run_v2`): the GCP boundary of `cloud_run_job`.

`CloudRunJobsApi` executes a Cloud Run Job with per-execution overrides and cancels executions;
`job_runner.domain.cloud_run_jobs` decides what to run and what a result means. In GCP the
clients speak gRPC with the job-runner's own credentials; with an `endpoint` (tests: a local
fake of the REST API) they speak REST without credentials, through the same client code.

Overrides: https://cloud.google.com/run/docs/execute/jobs#override-job-configuration and
https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/run (container
`env` overrides are merged into the job's; `timeout` replaces the task timeout). The caller
needs `run.jobs.runWithOverrides` on the job (roles/run.developer; infra grants it on each
dayflow job only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.api_core import operation
    from google.cloud import run_v2


class CloudRunJobsApi:
    """Run a Cloud Run Job with env overrides; cancel one of its executions."""

    def __init__(self, jobs: run_v2.JobsClient, executions: run_v2.ExecutionsClient) -> None:
        self.jobs = jobs
        self.executions = executions

    @classmethod
    def create(cls, endpoint: str | None = None) -> CloudRunJobsApi:
        """Clients for GCP (`endpoint` None: gRPC, default credentials) or a local REST fake."""
        from google.cloud import run_v2

        if endpoint is None:
            return cls(run_v2.JobsClient(), run_v2.ExecutionsClient())
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        def options() -> dict[str, object]:
            return {
                "transport": "rest",
                "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
                "client_options": ClientOptions(api_endpoint=endpoint),
            }

        return cls(run_v2.JobsClient(**options()), run_v2.ExecutionsClient(**options()))  # type: ignore[arg-type]

    def run_job(
        self, job: str, env: Mapping[str, str], timeout_seconds: int
    ) -> operation.Operation:
        """Start an execution of `job` (`projects/P/locations/L/jobs/J`) with `env` merged into
        its container's environment and `timeout_seconds` as its task timeout. Returns the
        long-running operation, whose metadata and result are the `Execution`."""
        from google.cloud import run_v2
        from google.protobuf import duration_pb2

        overrides = run_v2.RunJobRequest.Overrides(
            container_overrides=[
                run_v2.RunJobRequest.Overrides.ContainerOverride(
                    env=[run_v2.EnvVar(name=k, value=v) for k, v in env.items()]
                )
            ],
            timeout=duration_pb2.Duration(seconds=timeout_seconds),
        )
        return self.jobs.run_job(request=run_v2.RunJobRequest(name=job, overrides=overrides))

    def cancel_execution(self, execution: str) -> None:
        """Ask Cloud Run to stop an execution (`.../jobs/J/executions/E`); returns at once."""
        from google.cloud import run_v2

        self.executions.cancel_execution(request=run_v2.CancelExecutionRequest(name=execution))

    def close(self) -> None:
        self.jobs.transport.close()  # type: ignore[no-untyped-call]
        self.executions.transport.close()  # type: ignore[no-untyped-call]
