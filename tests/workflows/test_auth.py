"""Every call of the workflows to the job-runner carries an OIDC ID token whose audience is the
job-runner's base URL, as Google advises for Cloud Run targets
(https://cloud.google.com/workflows/docs/authenticate-from-workflow): without it the audience
defaults to the full request URL, path included, where Google's page says to set the service's
root URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.workflows.conftest import WORKFLOWS

AUDIENCES = {"${job_runner_url}", '${sys.get_env("JOB_RUNNER_URL")}'}


def _http_calls(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if str(node.get("call", "")).startswith("http."):
            yield node
        for value in node.values():
            yield from _http_calls(value)
    elif isinstance(node, list):
        for item in node:
            yield from _http_calls(item)


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.workflows.yaml")), ids=lambda p: p.name)
def test_every_http_call_sends_an_oidc_token_for_the_job_runners_base_url(path: Any) -> None:
    calls = list(_http_calls(yaml.safe_load(path.read_text())))
    assert calls
    for call in calls:
        auth = call["args"].get("auth")
        assert auth is not None and auth["type"] == "OIDC", call
        assert auth.get("audience") in AUDIENCES, call
