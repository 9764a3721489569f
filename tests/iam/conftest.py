"""Fixtures of the IAM contract test: one evaluation per session, and its report in the output.

The report (findings, known gaps, unused grants) is printed in pytest's terminal summary, so it
shows in every run of these tests, passing or not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.iam.evaluate import Evaluation, evaluate

_SUMMARY: list[str] = []


@pytest.fixture(scope="session")
def evaluation(
    bigquery_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Evaluation]:
    """Every workload run once through the recording proxies, checked against stack dev."""
    with evaluate(bigquery_endpoint, tmp_path_factory.mktemp("iam")) as result:
        yield result


@pytest.fixture(scope="session")
def iam_summary() -> list[str]:
    """Lines for the terminal summary, printed once after the tests.

    A fixture, not an import: under `--import-mode=importlib` a test importing this conftest
    would get a second copy of the module, whose list the hook below never sees.
    """
    return _SUMMARY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SUMMARY:
        terminalreporter.section("IAM contract")
        for line in _SUMMARY:
            terminalreporter.write_line(line)
