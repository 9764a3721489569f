"""Test a dayflow project's pipelines with pytest, on the local stack.

Installing dayflow registers the pytest plugin `dayflow.testing.plugin` (entry point
`pytest11`): its session fixture `dayflow_project` is a `LocalProject` for the spec at the ini
option `dayflow_spec` or `--dayflow-spec` (default: `dayflow.yaml` in the rootdir).
"""

from dayflow.testing.project import LocalProject

__all__ = ["LocalProject"]
