"""Stack config and the project file: bad values fail before any resource, naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pulumi_harness import PROJECT, ROOT, Deploy, Deployment, T, write_files

from dayflow.infra.config import StackConfigError

# The example's project file (examples/shop/Pulumi.yaml): the Pulumi.yaml a user's project
# starts from, which declares every config key of the program; the stacks below run the tests
# project (tests/project).
EXAMPLE = ROOT / "examples" / "shop"
PROJECT_FILE = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())


def test_project_file_runs_the_infra_folder_with_the_repository_virtualenv() -> None:
    assert PROJECT_FILE["name"] == "dayflow"
    assert PROJECT_FILE["main"] == "infra/"
    # Pulumi resolves `virtualenv` against the folder of Pulumi.yaml: the example uses the
    # repository's .venv, which `make venv` builds with this checkout's dayflow.
    assert PROJECT_FILE["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "../../.venv"},
    }
    assert (EXAMPLE / "../../.venv").resolve() == ROOT / ".venv"
    assert (EXAMPLE / PROJECT_FILE["main"] / "__main__.py").is_file()


def test_project_file_leaves_the_workflow_and_function_sources_to_the_package() -> None:
    # A default here would be a path relative to the project, where neither folder exists.
    for key in ("workflowsDir", "ingestFunctionDir"):
        assert "default" not in PROJECT_FILE["config"][key], key


def test_every_config_key_read_by_the_program_is_declared_with_a_description() -> None:
    declared = PROJECT_FILE["config"]
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "dayflow" / "infra").rglob("*.py"))
    read = set(re.findall(r'config\.(?:get\w*|require\w*)\(\s*"(\w+)"', source))
    read |= set(re.findall(r'_get_\w+\(config, "(\w+)"', source))
    assert read == set(declared)
    for key, declaration in declared.items():
        assert len(declaration["description"]) > 20, key
    assert declared["dataformGitToken"]["secret"] is True
    assert [k for k, d in declared.items() if d.get("secret")] == ["dataformGitToken"]


@pytest.mark.parametrize("project", [EXAMPLE, PROJECT], ids=["example", "tests-project"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_set_only_declared_keys(project: Path, stack: str) -> None:
    config = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())["config"]
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
            {"image": "europe-north1-docker.pkg.dev/p/dayflow/job-runner:latest"},
            "config image: 'europe-north1-docker.pkg.dev/p/dayflow/job-runner:latest' uses the "
            "moving tag 'latest' (expected a digest or a tag of one build",
        ),
        (
            {"image": "localhost:5000/dayflow/job-runner"},
            "config image: 'localhost:5000/dayflow/job-runner' has no tag or digest "
            "(expected a pinned image",
        ),
        (
            {"image": "r/job-runner@sha256:abc"},
            "config image: 'r/job-runner@sha256:abc' has a malformed digest "
            "(expected @sha256: and 64 hex digits)",
        ),
        (
            {"schedulerRegion": None},
            "config schedulerRegion: missing, and the stack's region 'europe-north1' has no "
            "Cloud Scheduler (expected schedulerRegion set to one of: asia-east1, ",
        ),
        (
            {"schedulerRegion": "europe-north1"},
            "config schedulerRegion: 'europe-north1' has no Cloud Scheduler "
            "(expected one of: asia-east1, asia-east2,",
        ),
        ({"jobRunnerConcurrency": 0}, "config jobRunnerConcurrency: 0 is out of range"),
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


@pytest.mark.parametrize(
    "image",
    [
        "europe-north1-docker.pkg.dev/p/dayflow/job-runner@sha256:" + "0" * 64,
        "europe-north1-docker.pkg.dev/p/dayflow/job-runner:3f9c2e1@sha256:" + "a" * 64,
        "europe-north1-docker.pkg.dev/p/dayflow/job-runner:3f9c2e1",
        "localhost:5000/job-runner:v1",
    ],
)
def test_an_image_pinned_by_digest_or_build_tag_is_deployed(deploy: Deploy, image: str) -> None:
    service = deploy("dev", image=image).one(T.SERVICE, "service")
    assert service.state["template"]["containers"][0]["image"] == image


def test_schedules_run_in_the_stack_region_when_scheduler_is_there(
    deploy: Deploy, tmp_path: Path
) -> None:
    # https://cloud.google.com/scheduler/docs/locations lists us-central1.
    spec = (PROJECT / "dayflow.yaml").read_text().replace("europe-north1", "us-central1")
    path = write_files(tmp_path, {"dayflow.yaml": spec}) / "dayflow.yaml"
    for name in ("sql", "seed", "dbt", "dataform", "events"):
        (tmp_path / name).symlink_to(PROJECT / name)
    deployment = deploy("dev", specPath=str(path), schedulerRegion=None)
    assert {j.state["region"] for j in deployment.of_type(T.SCHEDULE)} == {"us-central1"}
    assert {w.state["region"] for w in deployment.of_type(T.WORKFLOW)} == {"us-central1"}


def test_stacks_schedule_next_to_europe_north1(dev: Deployment) -> None:
    assert {j.state["region"] for j in dev.of_type(T.SCHEDULE)} == {"europe-west1"}
    assert {w.state["region"] for w in dev.of_type(T.WORKFLOW)} == {"europe-north1"}


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
