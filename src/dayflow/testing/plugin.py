"""The pytest plugin of `dayflow.testing` (registered as entry point `pytest11: dayflow`).

It adds the ini option `dayflow_spec`, the command-line option `--dayflow-spec` and the session
fixture `dayflow_project`. Nothing starts unless a test asks for the fixture, and importing this
module imports no Google client, FastAPI or pydantic.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dayflow.testing.project import LocalProject, fail

DEFAULT_SPEC = "dayflow.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "dayflow_spec",
        f"dayflow spec the dayflow_project fixture runs, relative to the rootdir "
        f"(default: {DEFAULT_SPEC})",
        default=DEFAULT_SPEC,
    )
    parser.getgroup("dayflow").addoption(
        "--dayflow-spec",
        dest="dayflow_spec",
        metavar="PATH",
        default=None,
        help="dayflow spec the dayflow_project fixture runs (overrides the dayflow_spec ini "
        "option; relative to the current directory)",
    )


def get_spec_path(config: pytest.Config) -> Path:
    """The spec file: --dayflow-spec (relative to where pytest was invoked), else the
    `dayflow_spec` ini option (relative to the rootdir); a one-line failure if it is missing."""
    __tracebackhide__ = True
    option: str | None = config.getoption("dayflow_spec")
    if option is not None:
        path, origin = config.invocation_params.dir / option, "--dayflow-spec"
    else:
        path, origin = config.rootpath / str(config.getini("dayflow_spec")), "dayflow_spec"
    if not path.is_file():
        fail(
            f"dayflow spec {path} not found (from {origin}; expected a dayflow.yaml: set the "
            "dayflow_spec ini option or pass --dayflow-spec PATH)"
        )
    return path


@pytest.fixture(scope="session")
def dayflow_project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalProject]:
    """The project's local stack, started once per session (once per xdist worker) in a temp
    state directory on free ports, and stopped after the last test, whether tests failed or not.

    Starting costs 8-11 s on an idle 2-core machine (17-28 s under a load average of 11): about
    8 s for a spec without topics, 11 s with topics (the ingest function and the Pub/Sub
    emulator too); paid once, by the first test that asks for it. Stopping takes about 1 s.
    The first partition run then pays the job-runner's warm-up (a few seconds); later runs
    cost what their BigQuery jobs cost. Measured by `python bench/local_project.py`.
    """
    # This frame stays visible (no __tracebackhide__): a setup failure with every frame hidden
    # would come with pytest's "All traceback entries are hidden" line.
    project = LocalProject.start(get_spec_path(request.config), tmp_path_factory.mktemp("dayflow"))
    try:
        yield project
    finally:
        project.stop()
