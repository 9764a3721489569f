"""dbt and Dataform act as their own service accounts in GCP, and dbt targets the environment.

Sources: dbt-bigquery's `impersonate_service_account` profile field
(https://docs.getdbt.com/docs/core/connect-data-platform/bigquery-setup#service-account-impersonation,
checked in the installed dbt/adapters/bigquery/credentials.py); the managed Dataform API's
`InvocationConfig.service_account` (installed google-cloud-dataform, dataform_v1 types); the
Dataform CLI's credentials file (installed @dataform/cli bundle and google-auth-library).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dayflow.errors import TransformError
from dayflow.spec import DataformJob, ManagedDataform
from dayflow.transforms.dataform import run_dataform
from dayflow.transforms.dataform_credentials import build_cli_credentials
from dayflow.transforms.dbt_profile import PROFILE_NAME, build_profile
from job_runner.api.deps import build_runner
from job_runner.core.config import JobRunnerSettings

from .fake_dataform import FakeDataform, ScriptedAction
from .semantic_layer import ROOT, partition

DBT_SA = "dayflow-dbt@acme-shop-dev.iam.gserviceaccount.com"
DATAFORM_SA = "dayflow-dataform@acme-shop-dev.iam.gserviceaccount.com"


def profile_for(env: str, bigquery_endpoint: str | None) -> tuple[str, dict[str, object]]:
    name, profile = build_profile(
        project="acme-shop-dev",
        dataset="dev_mart",
        location="europe-north1",
        bigquery_endpoint=bigquery_endpoint,
        timeout=600,
        target=env,
        impersonate_service_account=DBT_SA,
    )
    return name, profile[PROFILE_NAME]["outputs"][name]


def test_dev_profile_targets_dev_and_impersonates_the_dbt_account() -> None:
    name, output = profile_for("dev", None)
    assert name == "dev"
    assert output["method"] == "oauth"
    assert output["impersonate_service_account"] == DBT_SA
    assert output["location"] == "europe-north1"


def test_local_profile_targets_local_and_impersonates_nobody() -> None:
    name, output = profile_for("dev", "http://127.0.0.1:9050")
    assert name == "local"
    assert "impersonate_service_account" not in output


def test_job_runner_settings_reach_the_runner(tmp_path: Path) -> None:
    settings = JobRunnerSettings(
        env="dev",
        spec_path=ROOT / "dayflow.yaml",
        # An endpoint keeps the client from looking for Google credentials; nothing is called.
        bigquery_endpoint="http://127.0.0.1:9",
        dbt_service_account=DBT_SA,
        dataform_service_account=DATAFORM_SA,
    )
    runner = build_runner(settings)
    try:
        assert runner.env == "dev"
        assert (runner.transform_accounts.dbt, runner.transform_accounts.dataform) == (
            DBT_SA,
            DATAFORM_SA,
        )
        # The environment's region, since JOB_RUNNER_BIGQUERY_LOCATION is unset.
        assert runner.location == runner.client.location == "europe-north1"
    finally:
        runner.client.close()


def test_managed_dataform_invocation_runs_under_the_dataform_account() -> None:
    fake = FakeDataform([ScriptedAction("daily_sales_dataform")])
    job = DataformJob(
        kind="dataform",
        project_dir="transform/dataform",
        managed=ManagedDataform(repository="shop", git_commitish="v1.2.0"),
        tags=["daily_sales"],
    )
    result = run_dataform(
        job,
        spec_root=ROOT,
        partition=partition("2024-01-05"),
        project="acme-shop-dev",
        dataset_prefix="dev_",
        bigquery_endpoint=None,
        timeout=600,
        location="europe-north1",
        service_account=DATAFORM_SA,
        dataform_client=fake,
    )
    assert result.success, result.error
    assert fake.invocations[0].invocation_config.service_account == DATAFORM_SA


def test_dataform_cli_impersonates_from_a_user_credentials_file(tmp_path: Path) -> None:
    adc = tmp_path / "application_default_credentials.json"
    user = {"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    adc.write_text(json.dumps(user))
    contents = build_cli_credentials(
        project="acme-shop-dev", location="europe-north1", service_account=DATAFORM_SA, adc_file=adc
    )
    assert (contents["projectId"], contents["location"]) == ("acme-shop-dev", "europe-north1")
    inner = json.loads(contents["credentials"])
    assert inner["type"] == "impersonated_service_account"
    assert inner["service_account_impersonation_url"].endswith(
        f"/serviceAccounts/{DATAFORM_SA}:generateAccessToken"
    )
    assert inner["source_credentials"] == user


def test_dataform_cli_without_an_account_uses_default_credentials() -> None:
    contents = build_cli_credentials(
        project="acme-shop-dev", location="EU", service_account=None, adc_file=None
    )
    assert contents == {"projectId": "acme-shop-dev", "location": "EU"}


def test_dataform_cli_refuses_to_run_as_itself_when_it_cannot_impersonate() -> None:
    """On Cloud Run the source is the metadata server, which the CLI's file cannot name."""
    with pytest.raises(TransformError, match=re.escape(f"must run as {DATAFORM_SA}")) as err:
        build_cli_credentials(
            project="acme-shop-dev",
            location="europe-north1",
            service_account=DATAFORM_SA,
            adc_file=None,
            project_dir="transform/dataform",
        )
    assert "`managed`" in str(err.value)
