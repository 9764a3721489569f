"""Infra and the project image agree on where the spec is: the job-runner's JOB_RUNNER_SPEC_PATH
that infra sets (`image_spec_path`: /app/<specPath>) is the path where the project's Dockerfile
copies the spec, the ENV it sets, and what `dayflow image prepare` prepares."""

from __future__ import annotations

from pulumi_harness import ROOT, Deployment, T

from dayflow.infra.config import IMAGE_APP_DIR
from dayflow.project_image import APP_DIR
from tests.dockerfiles import parse_dockerfile

# The example project's Dockerfile, on which users model their own.
PROJECT_IMAGE = parse_dockerfile(ROOT / "examples" / "shop" / "Dockerfile")


def test_infra_and_the_project_image_put_the_app_in_the_same_folder() -> None:
    assert str(APP_DIR) == IMAGE_APP_DIR


def test_the_deployed_job_runner_reads_the_spec_where_the_project_image_put_it(
    dev: Deployment,
) -> None:
    container = dev.one(T.SERVICE, "service").state["template"]["containers"][0]
    deployed = {e["name"]: e["value"] for e in container["envs"]}["JOB_RUNNER_SPEC_PATH"]
    in_image = PROJECT_IMAGE.final.get_env()["JOB_RUNNER_SPEC_PATH"]
    assert deployed == in_image == f"{IMAGE_APP_DIR}/dayflow.yaml"
    assert ["dayflow.yaml", deployed] in [c.args.split() for c in PROJECT_IMAGE.final.all("COPY")]
    assert f"dayflow image prepare {deployed}" in [r.args for r in PROJECT_IMAGE.final.all("RUN")]
