"""Every environment variable infra sets is read by a typed setting of its deployable.

Holds, for the job-runner (`JobRunnerSettings`, prefix `JOB_RUNNER_`), the ingest function
(`ingestfn.settings.Settings.from_env`) and the Workflows (`sys.get_env` in workflows/*.yaml):
- every variable infra sets is read there (a typo or a dropped setting fails here);
- every setting without a default is set by infra, and the values infra sets parse.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi_harness import Deploy, Deployment, T

from ingestfn.settings import Settings as IngestSettings
from job_runner.core.config import JobRunnerSettings

# Variables Cloud Workflows sets itself (https://cloud.google.com/workflows/docs/reference/
# environment-variables); user-defined keys may not start with GOOGLE_ or WORKFLOWS_
# (https://cloud.google.com/workflows/docs/use-environment-variables, "Reserved names").
WORKFLOWS_BUILT_IN = frozenset(
    {
        "GOOGLE_CLOUD_PROJECT_ID",
        "GOOGLE_CLOUD_PROJECT_NUMBER",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME",
        "GOOGLE_CLOUD_WORKFLOW_ID",
        "GOOGLE_CLOUD_WORKFLOW_REVISION_ID",
        "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID",
    }
)
_GET_ENV = re.compile(r"""sys\.get_env\(\s*["']([A-Z0-9_]+)["']""")


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, deploy: Deploy) -> Deployment:
    deployment: Deployment = deploy(request.param)
    return deployment


def job_runner_env(deployment: Deployment) -> dict[str, str]:
    container = deployment.one(T.SERVICE, "service").state["template"]["containers"][0]
    return {e["name"]: e["value"] for e in container["envs"]}


def test_job_runner_env_vars_are_exactly_settings_fields_and_parse(
    stack: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = job_runner_env(stack)
    prefix = JobRunnerSettings.model_config["env_prefix"]
    fields = {
        f"{prefix}{name}".upper(): info for name, info in JobRunnerSettings.model_fields.items()
    }
    assert sorted(set(env) - set(fields)) == []
    required = {name for name, info in fields.items() if info.is_required()}
    assert sorted(required - set(env)) == []
    for name in list(os.environ):
        if name.startswith(prefix):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = JobRunnerSettings()
    assert settings.check_callers is True
    assert settings.max_concurrent_runs == int(env["JOB_RUNNER_MAX_CONCURRENT_RUNS"])
    assert settings.operator_members == json.loads(env["JOB_RUNNER_OPERATOR_MEMBERS"])
    assert settings.scheduler_service_account and settings.workflows_service_account
    assert settings.env == stack.one(T.SERVICE, "service").state["labels"]["dayflow-env"]


class _RecordingEnviron(dict[str, str]):
    """The environment a settings loader sees, recording every name it reads."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


def function_envs(deployment: Deployment) -> Iterator[dict[str, str]]:
    for function in deployment.of_type(T.FUNCTION):
        yield dict(function.state["serviceConfig"]["environmentVariables"])


def test_ingest_function_env_vars_are_read_by_its_settings(stack: Deployment) -> None:
    envs = list(function_envs(stack))
    assert envs
    for env in envs:
        environ = _RecordingEnviron(env)
        settings = IngestSettings.from_env(environ)  # raises if a required variable is missing
        assert sorted(set(env) - environ.read) == []
        assert settings.project == env["INGEST_PROJECT"]


def test_workflow_env_vars_are_those_the_sources_read(
    stack: Deployment, source_dirs: dict[str, str]
) -> None:
    workflows = stack.of_type(T.WORKFLOW)
    read_by_any = {n for w in workflows for n in _GET_ENV.findall(w.state["sourceContents"])}
    assert len(workflows) == len(list(Path(source_dirs["workflowsDir"]).glob("*.workflows.yaml")))
    for workflow in workflows:
        read = set(_GET_ENV.findall(workflow.state["sourceContents"])) - WORKFLOWS_BUILT_IN
        set_by_infra = set(workflow.state.get("userEnvVars", {}))
        # What a source reads is set; what is set is read by some source (one env for all).
        assert sorted(read - set_by_infra) == [], workflow.name
        assert sorted(set_by_infra - read_by_any) == [], workflow.name
        assert not [n for n in set_by_infra if n.startswith(("GOOGLE_", "WORKFLOWS_"))]


def test_a_variable_no_setting_reads_fails_the_contract() -> None:
    environ = _RecordingEnviron({"INGEST_PROJECT": "p", "INGEST_DEADLETTER_TABLE": "x.y"})
    IngestSettings.from_env(environ)
    assert set(environ) - environ.read == {"INGEST_DEADLETTER_TABLE"}
    fields = {f"JOB_RUNNER_{n}".upper() for n in JobRunnerSettings.model_fields}
    assert "JOB_RUNNER_REGION" not in fields  # infra stopped setting it: the spec has the region
