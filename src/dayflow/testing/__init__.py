"""Test a dayflow project's pipelines with pytest, on the local stack.

Installing dayflow registers the pytest plugin `dayflow.testing.plugin` (entry point
`pytest11: dayflow`): its session fixture `dayflow_project` is a `LocalProject` for the spec at
the ini option `dayflow_spec` or `--dayflow-spec` (default: `dayflow.yaml` in the rootdir),
with its local stack started once per session and stopped at its end::

    def test_daily_is_idempotent(dayflow_project):
        dayflow_project.seed()
        dayflow_project.run("daily", "2024-01-01")
        dayflow_project.assert_succeeded("daily", "2024-01-01")
        once = dayflow_project.checksum("daily", "2024-01-01")
        dayflow_project.run("daily", "2024-01-01")
        assert dayflow_project.checksum("daily", "2024-01-01") == once

The stack is shared by the session's tests: give each test partitions of its own.
"""

from dayflow.testing.project import LocalProject

__all__ = ["LocalProject"]
