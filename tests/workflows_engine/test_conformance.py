"""Table-driven conformance: every case in cases/*.yaml runs through the real engine.

A case has `name`, either `workflow` (source text) or `expr` (returned by a one-step
workflow whose main takes `args`), optional `args`, and one expectation: `result`,
`error` (the whole error payload), `error_tags`, or `definition_error` (a substring of
the load-time message). Optional `steps` and `sleeps` check billed steps and backoff.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayflow.workflows_engine import FakeClock, WorkflowDefinitionError, WorkflowEngine

CASES_DIR = Path(__file__).parent / "cases"


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            params.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return params


def _source(case: dict[str, Any]) -> str:
    if "workflow" in case:
        return str(case["workflow"])
    expr = case["expr"].replace("'", "''")
    return f"main:\n  params: [args]\n  steps:\n    - r:\n        return: '${{{expr}}}'\n"


@pytest.mark.parametrize("case", _load_cases())
def test_case(case: dict[str, Any], engine: WorkflowEngine, clock: FakeClock) -> None:
    source = _source(case)
    if "definition_error" in case:
        with pytest.raises(WorkflowDefinitionError, match=re.escape(case["definition_error"])):
            engine.deploy("case", source)
        return
    engine.deploy("case", source)
    execution = engine.run("case", case.get("args"))
    if "result" in case:
        assert execution.state == "SUCCEEDED", execution.error
        assert execution.result_value == case["result"]
    elif "error" in case:
        assert execution.state == "FAILED", execution.result
        assert execution.error == case["error"]
    else:
        assert execution.state == "FAILED", execution.result
        assert set(case["error_tags"]) <= set(execution.error_tags), execution.error
    if "steps" in case:
        assert execution.steps == case["steps"]
    if "sleeps" in case:
        assert clock.sleeps == case["sleeps"]
