"""The environment field `impersonate_service_account`: the account the CLI calls the job-runner as."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dayflow.errors import SpecError
from dayflow.spec import load_spec
from tests.conftest import read_project_spec

ROOT = Path(__file__).resolve().parents[1]
OPERATOR = "dayflow-operator@acme-shop-dev.iam.gserviceaccount.com"


def spec_with(tmp_path: Path, account: str) -> Path:
    spec = read_project_spec()
    spec["environments"]["dev"]["impersonate_service_account"] = account
    path = tmp_path / "dayflow.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_environment_names_the_account_to_impersonate(tmp_path: Path) -> None:
    spec = load_spec(spec_with(tmp_path, OPERATOR))
    assert spec.get_environment("dev").impersonate_service_account == OPERATOR
    assert spec.get_environment("prod").impersonate_service_account is None


def test_a_person_is_not_a_service_account_to_impersonate(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="impersonate_service_account"):
        load_spec(spec_with(tmp_path, "ada@acme.example"))
