"""The spec's `services` and `http` jobs: each bad value is one line naming it and what was
expected (through load_spec, the entry point of `dayflow validate`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.errors import SpecError
from dayflow.spec import HttpJob, get_datasets, load_spec
from dayflow.spec_services import get_http_services


def spec(**job: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "name": "fx",
        "environments": {"local": {"gcp_project": "local"}},
        "services": {
            "fx_rates": {"local": {"command": ["python", "-m", "fx", "--port", "{port}"]}},
            "idle": {"cloud_run_service": "idle-svc", "local": {"command": ["idle"]}},
        },
        "pipelines": {
            "fx": {
                "granularity": "day",
                "timezone": "UTC",
                "schedule": "0 3 * * *",
                "start": "2024-01-01",
                "jobs": {"extract": {"kind": "http", "service": "fx_rates", **job}},
            }
        },
    }


def load(tmp_path: Path, raw: dict[str, Any]) -> Any:
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path)


def problems(tmp_path: Path, raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as err:
        load(tmp_path, raw)
    return [line.split(": ", 1)[1] for line in err.value.lines]


def test_an_http_job_names_a_service_and_path_with_defaults(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        spec(
            path="/extract",
            destination={"dataset": "landing", "table": "fx", "partition_field": "d"},
        ),
    )
    job = loaded.pipelines["fx"].jobs["extract"]
    assert isinstance(job, HttpJob)
    assert (job.service, job.path, job.timeout_seconds) == ("fx_rates", "/extract", 300)
    assert "landing" in get_datasets(loaded)  # dayflow creates the dataset the service writes
    # Only called services are served locally and granted in GCP.
    assert list(get_http_services(loaded)) == ["fx_rates"]
    assert loaded.services["fx_rates"].get_cloud_run_name("fx_rates") == "fx-rates"
    assert loaded.services["idle"].get_cloud_run_name("idle") == "idle-svc"


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (
            {"url": "https://example.com/hook"},
            "pipelines.fx.jobs.extract: url 'https://example.com/hook': an http job calls one of "
            "the spec's services (expected service: NAME and path: /PATH, with NAME declared "
            "under services)",
        ),
        (
            {"auth": "oidc"},
            "pipelines.fx.jobs.extract: auth 'oidc' cannot be set: an http job always POSTs, with "
            "an OIDC ID token in GCP and none locally (expected no method or auth)",
        ),
        (
            {"method": "GET"},
            "pipelines.fx.jobs.extract: method 'GET' cannot be set: an http job always POSTs, "
            "with an OIDC ID token in GCP and none locally (expected no method or auth)",
        ),
        (
            {"service": "fx_rate"},
            "pipelines.fx.jobs.extract.service: unknown service 'fx_rate' (expected one of "
            "services: fx_rates, idle)",
        ),
        (
            {"timeout_seconds": 3601},
            "pipelines.fx.jobs.extract.timeout_seconds: Input should be less than or equal to "
            "3600 (got 3601)",
        ),
        (
            {"path": "extract?x=1"},
            "pipelines.fx.jobs.extract.path: String should match pattern "
            "'^/[A-Za-z0-9._~/-]*$' (got 'extract?x=1')",
        ),
    ],
)
def test_a_bad_http_job_is_one_line_naming_the_value(
    tmp_path: Path, job: dict[str, Any], expected: str
) -> None:
    assert problems(tmp_path, spec(**job)) == [expected]


def test_an_hourly_http_job_cannot_declare_a_date_partitioned_destination(tmp_path: Path) -> None:
    raw = spec(destination={"dataset": "landing", "table": "fx", "partition_field": "d"})
    raw["pipelines"]["fx"] |= {"granularity": "hour", "start": "2024-01-01T00"}
    assert problems(tmp_path, raw) == [
        "pipelines.fx.jobs.extract.destination.partition_type: DATE cannot hold hourly "
        "partitions (expected TIMESTAMP)"
    ]


def test_a_service_name_cloud_run_cannot_take_is_refused(tmp_path: Path) -> None:
    raw = spec()
    raw["services"]["fx_"] = {"local": {"command": ["x"]}}
    raw["services"]["idle"]["cloud_run_service"] = "Idle_Svc"
    pattern = "services.idle.cloud_run_service: String should match pattern"
    with pytest.raises(SpecError, match=re.escape(pattern)):
        load(tmp_path, raw)
    raw["services"]["idle"]["cloud_run_service"] = "idle-svc"
    assert problems(tmp_path, raw) == [
        "services.fx_: Cloud Run service name 'fx-' is invalid (expected cloud_run_service: "
        "lower-case letters, digits and hyphens, not ending with one)"
    ]


def test_a_service_account_is_an_account_id(tmp_path: Path) -> None:
    raw = spec()
    raw["services"]["idle"]["service_account"] = "fx@acme.iam.gserviceaccount.com"
    pattern = "services.idle.service_account: String should match pattern"
    with pytest.raises(SpecError, match=re.escape(pattern)):
        load(tmp_path, raw)


def test_a_service_needs_a_local_command(tmp_path: Path) -> None:
    raw = spec()
    raw["services"]["idle"]["local"] = {"command": []}
    with pytest.raises(
        SpecError, match=re.escape("services.idle.local.command: List should have at least 1 item")
    ):
        load(tmp_path, raw)
