"""The domain's own HTTP services in the spec (`services:`), which `http` jobs call per partition.

```yaml
services:
  fx_extractor:
    cloud_run_service: fx-extractor        # default: the key with '_' as '-'
    local:                                 # how `dayflow local up` serves it
      command: [python, -m, uvicorn, --app-dir, services, fx_extractor.main:app,
                --host, 127.0.0.1, --port, "{port}"]
```

Design (why a service is named, not its URL):

- In GCP a service is a private Cloud Run service in the environment's project and region, deployed
  by the domain team (its image, its own service account). The spec names it; infra looks its
  URL up by that name (`cloudrunv2.get_service`) and passes it to the job-runner
  (`JOB_RUNNER_SERVICE_URLS`), and grants the job-runner `roles/run.invoker` on exactly that
  service. A URL per environment in the spec would repeat what Cloud Run already knows (its
  `run.app` URLs are hash-based, and the deterministic one exists only when the name is short
  enough: https://cloud.google.com/run/docs/triggering/https-request#deterministic), and could
  drift from it; the invoker grant needs the service to exist anyway, so the look-up fails the
  deployment early, naming the service, when it does not.
- Locally `dayflow local up` runs `local.command` in the spec's directory, on 127.0.0.1 and a free
  port (`{port}` in any argument, and the `PORT` variable, as Cloud Run sets it), with the
  BigQuery emulator's URL in `BIGQUERY_EMULATOR_HOST` (google-cloud-bigquery's endpoint
  variable; the service passes anonymous credentials) and `GOOGLE_CLOUD_PROJECT=local`. The
  interpreter's `bin/` comes first on `PATH`, so `python` is the dayflow environment's. Its URL
  goes into stack.json and to the job-runner.
- A plain third-party URL is not a job: dayflow could neither serve it locally nor call it with
  an ID token. Wrap such an endpoint in a service of the domain.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from dayflow.spec import Spec

# Cloud Run service names: lower-case letters, digits and hyphens, starting with a letter, not
# ending with a hyphen, at most 49 characters (https://cloud.google.com/run/docs/deploying).
CLOUD_RUN_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
# The longest a Cloud Run service may take to answer one request (60 minutes):
# https://cloud.google.com/run/docs/configuring/request-timeout
MAX_REQUEST_TIMEOUT_SECONDS = 3600


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalService(_Model):
    """How `dayflow local up` serves a service: a command run in the spec's directory."""

    # argv (no shell); "{port}" in an argument becomes the port it must listen on (127.0.0.1).
    command: list[str] = Field(min_length=1)


class Service(_Model):
    """One of the domain's own HTTP services (a private Cloud Run service in GCP)."""

    # Its Cloud Run service name in each environment's project and region (default: the key
    # with '_' replaced by '-').
    cloud_run_service: str | None = Field(default=None, pattern=CLOUD_RUN_NAME.pattern)
    # The id of the service account it runs as in each environment's project (`fx-extractor`
    # for fx-extractor@<project>.iam.gserviceaccount.com). When set, infra grants that account
    # write access on exactly the destination datasets of the http jobs calling the service,
    # and BigQuery Job User on the project (to run its queries); unset, grant them yourself.
    service_account: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    local: LocalService

    def get_cloud_run_name(self, key: str) -> str:
        return self.cloud_run_service or key.replace("_", "-")


def get_http_services(spec: Spec) -> dict[str, Service]:
    """The services some `http` job calls, by key (infra grants invoker on exactly these)."""
    from dayflow.spec import HttpJob

    used = {
        job.service
        for pipeline in spec.pipelines.values()
        for job in pipeline.jobs.values()
        if isinstance(job, HttpJob)
    }
    return {key: service for key, service in spec.services.items() if key in used}


def get_service_writes(spec: Spec) -> dict[str, tuple[str, ...]]:
    """Logical datasets each called service writes: its http jobs' destination datasets."""
    from dayflow.spec import HttpJob

    writes: dict[str, list[str]] = {key: [] for key in get_http_services(spec)}
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, HttpJob) and job.destination is not None:
                writes[job.service].append(job.destination.dataset)
    return {key: tuple(dict.fromkeys(datasets)) for key, datasets in writes.items()}


def check_services(spec: Spec) -> list[str]:
    """Each http job names a declared service; each service has a valid Cloud Run name."""
    from dayflow.spec import HttpJob

    problems: list[str] = []
    for key, service in spec.services.items():
        name = service.get_cloud_run_name(key)
        if not CLOUD_RUN_NAME.match(name):
            problems.append(
                f"services.{key}: Cloud Run service name {name!r} is invalid (expected "
                "cloud_run_service: lower-case letters, digits and hyphens, not ending with one)"
            )
    for name, pipeline in spec.pipelines.items():
        for job_name, job in pipeline.jobs.items():
            if isinstance(job, HttpJob) and job.service not in spec.services:
                problems.append(
                    f"pipelines.{name}.jobs.{job_name}.service: unknown service {job.service!r} "
                    f"(expected one of services: {', '.join(spec.services) or 'none declared'})"
                )
    return problems
