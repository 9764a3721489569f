"""Fixtures of the infra tests: the Pulumi program run on Pulumi's mock engine.

`pulumi.runtime.set_mocks` is process-global: every run installs a fresh mock engine and config
(`pulumi_harness.run_under_mocks`), so no state leaks from one test to the next.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# `infra` is a folder of the project, not an installed package; the harness sits beside this
# file. Both are put on sys.path, which works in pytest's prepend and importlib import modes.
HERE = Path(__file__).resolve().parent
for path in (HERE.parents[1], HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from pulumi_harness import (  # noqa: E402
    Deploy,
    Deployment,
    get_function_dir,
    get_workflows_dir,
    run_program,
)


@pytest.fixture(scope="session")
def source_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Workflow and function sources: the repo's own when present, else fixture files."""
    tmp = tmp_path_factory.mktemp("sources")
    return {
        "workflowsDir": str(get_workflows_dir(tmp)),
        "ingestFunctionDir": str(get_function_dir(tmp)),
    }


@pytest.fixture(scope="session")
def deploy(source_dirs: dict[str, str]) -> Deploy:
    """`deploy(stack, **overrides)`: run the program for a stack, on the tests project's spec by default."""

    def run(stack: str, secrets: tuple[str, ...] = (), **overrides: Any) -> Deployment:
        return run_program(stack, {**source_dirs, **overrides}, secrets=secrets)

    return run


@pytest.fixture(scope="session")
def dev(deploy: Deploy) -> Deployment:
    return deploy("dev")


@pytest.fixture(scope="session")
def prod(deploy: Deploy) -> Deployment:
    return deploy("prod")
