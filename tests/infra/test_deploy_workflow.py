"""The CI/CD workflow (.github/workflows/deploy.yml): secrets, identities, pinned images.

Static checks of the YAML: GitHub Actions cannot run here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
ACTION = yaml.safe_load((ROOT / ".github/actions/pulumi-stack/action.yml").read_text())
JOBS: dict[str, dict[str, Any]] = WORKFLOW["jobs"]

# Current major versions (December 2026): actions/checkout v6 (Node 24, released 2025-11,
# https://github.com/actions/checkout/releases/tag/v6.0.0), actions/setup-python v7
# (https://github.com/actions/setup-python/releases/tag/v7.0.0), google-github-actions/auth v3
# and setup-gcloud v3 (https://github.com/google-github-actions/auth), pulumi/actions v6,
# actions/cache v5 and actions/setup-node v6 (their Node 24 majors, github.com/actions/cache and
# github.com/actions/setup-node releases).
CURRENT = {
    "actions/cache": "v5",
    "actions/setup-node": "v6",
    "actions/checkout": "v6",
    "actions/setup-python": "v7",
    "google-github-actions/auth": "v3",
    "google-github-actions/setup-gcloud": "v3",
    "pulumi/actions": "v6",
}


def uses(steps: list[dict[str, Any]]) -> list[str]:
    return [s["uses"] for s in steps if "uses" in s and not s["uses"].startswith("./")]


def test_the_passphrase_is_given_only_to_jobs_in_protected_environments() -> None:
    assert "PULUMI_CONFIG_PASSPHRASE" not in WORKFLOW.get("env", {})
    holders = {n for n, job in JOBS.items() if "PULUMI_CONFIG_PASSPHRASE" in job.get("env", {})}
    assert holders == {"preview", "deploy-dev", "deploy-prod"}
    for name in holders:
        assert JOBS[name]["environment"] in {"preview-${{ matrix.stack }}", "dev", "prod"}
    assert "secrets." not in yaml.safe_dump(JOBS["test"]) + yaml.safe_dump(JOBS["image"])


def test_gcp_identities_come_from_the_jobs_environment() -> None:
    for name in ("preview", "deploy-dev", "deploy-prod"):
        step = JOBS[name]["steps"][-1]
        assert step["with"]["service-account"] == "${{ vars.GCP_SERVICE_ACCOUNT }}"
        assert "environment" in JOBS[name]
    # The WIF binding is per environment subject, as the header documents it.
    header = (ROOT / ".github/workflows/deploy.yml").read_text()
    assert "subject/repo:OWNER/REPO:environment:prod" in header
    assert "roles/viewer" in header and "Never" in header


def test_deploys_use_the_image_digest_the_image_job_pushed() -> None:
    push = next(s for s in JOBS["image"]["steps"] if s.get("id") == "push")
    assert "RepoDigests" in push["run"] and "@sha256:" in push["run"]
    assert JOBS["image"]["outputs"]["image"] == "${{ steps.push.outputs.image }}"
    for name in ("deploy-dev", "deploy-prod"):
        assert "image" in JOBS[name]["needs"]
        assert JOBS[name]["steps"][-1]["with"]["image"] == "${{ needs.image.outputs.image }}"
    assert JOBS["deploy-prod"]["needs"] == ["image", "deploy-dev"]


@pytest.mark.parametrize(
    "used",
    sorted(
        {u for job in JOBS.values() for u in uses(job["steps"])}
        | set(uses(ACTION["runs"]["steps"]))
    ),
)
def test_actions_are_at_their_current_major_version(used: str) -> None:
    name, _, version = used.partition("@")
    assert name in CURRENT, used
    assert re.fullmatch(r"v\d+", version), used
    assert version == CURRENT[name], used


# --- the paths: the example project in examples/shop, its image on the toolkit image ------------

PULUMI_JOBS = ("preview", "deploy-dev", "deploy-prod")


def stack_step(job: str) -> dict[str, Any]:
    step: dict[str, Any] = JOBS[job]["steps"][-1]
    assert step["uses"] == "./.github/actions/pulumi-stack"
    return step


def test_pulumi_runs_in_the_example_project_folder() -> None:
    assert ACTION["inputs"]["work-dir"]["required"] is True
    (pulumi,) = [s for s in ACTION["runs"]["steps"] if "pulumi login" in s.get("run", "")]
    # A composite action's run step takes `working-directory` (runs.steps[*].working-directory,
    # https://docs.github.com/en/actions/reference/metadata-syntax-for-github-actions).
    assert pulumi["working-directory"] == "${{ inputs.work-dir }}"
    stacks = {"preview": ["dev", "prod"], "deploy-dev": ["dev"], "deploy-prod": ["prod"]}
    for job in PULUMI_JOBS:
        project = ROOT / stack_step(job)["with"]["work-dir"]
        assert project == ROOT / "examples" / "shop", job
        assert yaml.safe_load((project / "Pulumi.yaml").read_text())["main"] == "infra/"
        assert (project / "infra" / "__main__.py").is_file()
        for stack in stacks[job]:
            assert (project / f"Pulumi.{stack}.yaml").is_file(), (job, stack)
    assert JOBS["preview"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]


def test_cache_and_lock_paths_name_files_of_the_repository() -> None:
    text = yaml.safe_dump(WORKFLOW) + yaml.safe_dump(ACTION)
    for path in re.findall(r"hashFiles\(([^)]*)\)", text):
        for name in re.findall(r"'([^']+)'", path):
            assert (ROOT / name).is_file(), name
    (node,) = [
        s for s in JOBS["test"]["steps"] if s.get("uses", "").startswith("actions/setup-node")
    ]
    # The lock of the one Dataform project that `make venv` installs (the Makefile's DATAFORM_DIR).
    (dataform_dir,) = re.findall(r"^DATAFORM_DIR := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    lock = node["with"]["cache-dependency-path"]
    assert lock == f"{dataform_dir}/package-lock.json" == "tests/project/dataform/package-lock.json"
    assert (ROOT / lock).is_file()


def test_the_project_image_is_built_on_the_toolkit_build_of_the_same_commit() -> None:
    push = next(s for s in JOBS["image"]["steps"] if s.get("id") == "push")
    script = push["run"]
    toolkit = 'make image TOOLKIT_IMAGE="$TOOLKIT"'
    project = 'docker build --build-arg DAYFLOW_IMAGE="$toolkit" -t "$PROJECT" examples/shop'
    assert toolkit in script and project in script
    # The toolkit is pushed first, and the project image names it by that digest.
    assert script.index(toolkit) < script.index('toolkit="$(push "$TOOLKIT")"')
    assert script.index('toolkit="$(push "$TOOLKIT")"') < script.index(project)
    assert (ROOT / "examples" / "shop" / "Dockerfile").is_file()
    # A plain assignment, which `make image TOOLKIT_IMAGE=...` overrides from the command line.
    assert "TOOLKIT_IMAGE := " in (ROOT / "Makefile").read_text()
    env = push["env"]
    assert env["TOOLKIT"] == "${{ vars.IMAGE_REPOSITORY }}/dayflow-job-runner:${{ github.sha }}"
    # What a preview names is the tag that main pushes for the same commit.
    assert env["PROJECT"] == stack_step("preview")["with"]["image"]
    assert JOBS["image"]["outputs"]["toolkit-image"] == "${{ steps.push.outputs.toolkit-image }}"


def test_pull_requests_refuse_breaking_contract_changes_of_the_example() -> None:
    job = JOBS["contract"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["steps"][0]["with"]["fetch-depth"] == 0  # the base ref must be there to compare
    step = job["steps"][-1]
    assert step["run"].startswith('.venv/bin/dayflow contract check --against "origin/$BASE_REF"')
    assert step["env"] == {"BASE_REF": "${{ github.base_ref }}"}  # never pasted into the script
    assert step["run"].endswith("--spec examples/shop/dayflow.yaml")
    assert "secrets." not in yaml.safe_dump(job)
