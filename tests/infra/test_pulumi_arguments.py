"""Every argument the program passes to a pulumi_gcp resource exists in the pinned pulumi_gcp.

The check (`argument_check`) reads the resource's `*Args` input class and its nested input
classes from the installed pulumi_gcp, so it follows the pinned version: an argument that a
release renames or drops fails here, not at `pulumi up`.
"""

from __future__ import annotations

import pytest
from argument_check import check_resource
from pulumi_harness import Deploy, Deployment, run_under_mocks


def gcp_arguments(deployment: Deployment) -> list[tuple[str, list[str]]]:
    return [
        (a.name, check_resource(a.resource_class, a.props))
        for a in deployment.arguments
        if a.resource_class.__module__.startswith("pulumi_gcp.")
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_argument_of_every_resource_exists_with_its_shape(deploy: Deploy, stack: str) -> None:
    checked = gcp_arguments(deploy(stack))
    assert len(checked) > 50
    assert [(name, problems) for name, problems in checked if problems] == []


def test_eventarc_delivery_and_git_remotes_pass_the_argument_check(deploy: Deploy) -> None:
    deployment = deploy("dev", ingestDelivery="eventarc")
    assert [(n, p) for n, p in gcp_arguments(deployment) if p] == []


def test_a_misspelled_nested_key_fails_the_check() -> None:
    from pulumi_gcp import cloudrunv2

    def program() -> None:
        cloudrunv2.Service(  # type: ignore[call-overload]  # the bad keys are the point
            "bad",
            project="p",
            location="europe-north1",
            template={
                "containers": [{"image": "x:1", "envs": [{"name": "A", "valeu": "1"}]}],
                "scaling": {"max_instance_count": "3"},
            },
        )

    deployment = run_under_mocks(program)
    (problems,) = [p for _, p in gcp_arguments(deployment)]
    assert problems == [
        "Service.template.containers[0].envs[0].valeu: unknown argument of "
        "ServiceTemplateContainerEnvArgs (expected one of: name, value, value_source)",
        "Service.template.scaling.max_instance_count: '3' (str), expected int",
    ]


def test_a_missing_required_argument_fails_the_check() -> None:
    from pulumi_gcp import projects

    def program() -> None:
        projects.IAMMember("bad", project="p", role="roles/run.invoker", member="user:a@b.c")

    deployment = run_under_mocks(program)
    assert [p for _, p in gcp_arguments(deployment)] == [[]]
    assert check_resource(projects.IAMMember, {"project": "p", "role": "r"}) == [
        "IAMMember.member: required by IAMMemberArgs, missing"
    ]
