"""Deterministic GCP resource names derived from spec names (no timestamps, no randomness).

GCP ids have tighter alphabets and lengths than spec names (`[a-z][a-z0-9_]{0,39}` pipelines,
topics up to 100 characters). A name that has to be shortened keeps a readable prefix and ends
with 6 hex digits of its SHA-256, so two long names never collapse into one.
"""

from __future__ import annotations

import hashlib
import re

from dayflow import schedules

PREFIX = "dayflow"
_HASH_LEN = 6
# Cloud Run service names, and so gen2 Cloud Functions (each is served by a Cloud Run service of
# the same name), must be under 50 characters: the Cloud Run Admin API v2 `services.create`
# serviceId "must begin with letter, and cannot end with hyphen; must contain fewer than 50
# characters" (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/create).
# 63, the DNS label limit used before, is not the binding one.
MAX_SERVICE_NAME = 49
_SERVICE_NAME = re.compile(rf"[a-z](?:[a-z0-9-]{{0,{MAX_SERVICE_NAME - 2}}}[a-z0-9])?")


class ServiceNameError(ValueError):
    """A Cloud Run service or gen2 function name GCP would refuse."""


def _shorten(name: str, max_len: int) -> str:
    if len(name) <= max_len:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LEN]
    return f"{name[: max_len - _HASH_LEN - 1].rstrip('-_')}-{digest}"


def to_kebab(name: str) -> str:
    """`shop_daily` -> `shop-daily`: the alphabet of Cloud Run, Functions and account ids."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")


def get_account_id(workload: str) -> str:
    """Service account id `dayflow-<workload>`: 6-30 characters, `[a-z][a-z0-9-]*[a-z0-9]`."""
    return _shorten(f"{PREFIX}-{to_kebab(workload)}", 30).rstrip("-")


def get_service_name(*parts: str) -> str:
    """Cloud Run service or gen2 Cloud Function name: lower kebab case, at most 49 characters.

    A longer name keeps a readable prefix and ends with a hash (`_shorten`). Raises
    `ServiceNameError` when no valid name results (e.g. the parts start with a digit).
    """
    name = _shorten("-".join(to_kebab(p) for p in parts), MAX_SERVICE_NAME).rstrip("-")
    check_service_name(name)
    return name


def check_service_name(name: str) -> str:
    """`name` if Cloud Run accepts it as a service name; else a `ServiceNameError` saying why."""
    if not _SERVICE_NAME.fullmatch(name):
        raise ServiceNameError(
            f"service name {name!r} ({len(name)} characters) is not a valid Cloud Run service "
            f"or gen2 function name (expected at most {MAX_SERVICE_NAME} characters: lowercase "
            "letters, digits and '-', starting with a letter, not ending with '-')"
        )
    return name


# Cloud Scheduler job of a pipeline: `dayflow-<pipeline_name>`, defined with the job itself.
get_scheduler_job_name = schedules.get_scheduler_job_name


def get_workflow_name(stem: str) -> str:
    """A Workflow is named by its file: `run_partition.workflows.yaml` -> `run_partition`.

    The job-runner starts executions by these names, so they carry no prefix.
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", stem):
        raise ValueError(
            f"workflow file stem {stem!r} is not a valid Workflow id "
            "(expected a letter, then up to 63 letters, digits, '-' or '_')"
        )
    return stem


def get_bucket_name(project: str, purpose: str) -> str:
    """Globally unique bucket name: GCP project ids are unique, so `<project>-dayflow-<purpose>`."""
    return _shorten(f"{project}-{PREFIX}-{to_kebab(purpose)}", 63)
