"""Stack config and the project file: bad values fail before any resource, naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pulumi_harness import ROOT, Deploy, write_files

from infra.config import StackConfigError

PROJECT_FILE = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def test_project_file_runs_the_infra_folder_with_the_project_virtualenv() -> None:
    assert PROJECT_FILE["name"] == "dayflow"
    assert PROJECT_FILE["main"] == "infra/"
    assert PROJECT_FILE["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }


def test_every_config_key_read_by_the_program_is_declared_with_a_description() -> None:
    declared = PROJECT_FILE["config"]
    source = "\n".join(p.read_text() for p in (ROOT / "infra").rglob("*.py"))
    read = set(re.findall(r'config\.(?:get\w*|require\w*)\(\s*"(\w+)"', source))
    read |= set(re.findall(r'_get_\w+\(config, "(\w+)"', source))
    assert read == set(declared)
    for key, declaration in declared.items():
        assert len(declaration["description"]) > 20, key
    assert declared["dataformGitToken"]["secret"] is True
    assert [k for k, d in declared.items() if d.get("secret")] == ["dataformGitToken"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_set_only_declared_keys(stack: str) -> None:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    project_keys = {k.split(":", 1)[1] for k in config if k.startswith("dayflow:")}
    assert project_keys <= set(PROJECT_FILE["config"])
    assert config["dayflow:environment"] == stack


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"environment": "local"},
            "config environment: 'local' cannot be deployed (expected one of: dev, prod",
        ),
        (
            {"gcp:project": "acme-shop-prod"},
            "config gcp:project: 'acme-shop-prod' differs from environments.dev.gcp_project "
            "'acme-shop-dev' in dayflow.yaml (expected them to be equal)",
        ),
        ({"image": None}, "config image: missing (expected the job-runner image"),
        (
            {"minInstances": 3, "maxInstances": 2},
            "config minInstances: 3 is above maxInstances 2 (expected minInstances <= maxInstances)",
        ),
        (
            {"ingestDelivery": "pull"},
            "config ingestDelivery: 'pull' is not supported (expected one of: push, eventarc)",
        ),
        ({"maxInstances": 0}, "config maxInstances: 0 is out of range (expected 1..1000)"),
        (
            {"transformDatasets": ["mart", "bad-name"]},
            "config transformDatasets: ['mart', 'bad-name'] is not a list of dataset names",
        ),
        (
            {"dataformGitRemotes": {"nope": "https://github.com/acme/x.git"}},
            "config dataformGitRemotes.nope: no dataform job of dayflow.yaml manages repository "
            "'nope' (expected one of: none)",
        ),
    ],
)
def test_bad_config_is_rejected_with_the_key_and_the_expectation(
    deploy: Deploy, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(StackConfigError, match=re.escape(message)):
        deploy("dev", **overrides)


def test_missing_run_partition_workflow_is_rejected(deploy: Deploy, tmp_path: Path) -> None:
    folder = write_files(tmp_path / "wf", {"backfill.workflows.yaml": "main:\n  steps: []\n"})
    with pytest.raises(
        StackConfigError,
        match=re.escape(
            f"config workflowsDir: {folder} has no run_partition.workflows.yaml "
            "(expected it: schedules start it; found: backfill)"
        ),
    ):
        deploy("dev", workflowsDir=str(folder))


def test_missing_function_source_is_rejected(deploy: Deploy, tmp_path: Path) -> None:
    with pytest.raises(StackConfigError, match=re.escape(f"{tmp_path}/nothing has no main.py")):
        deploy("dev", ingestFunctionDir=str(tmp_path / "nothing"))
