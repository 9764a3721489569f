"""dbt and Dataform act as their own service accounts in GCP, and dbt targets the environment.

Sources: dbt-bigquery's `impersonate_service_account` profile field
(https://docs.getdbt.com/docs/core/connect-data-platform/bigquery-setup#service-account-impersonation,
checked in the installed dbt/adapters/bigquery/credentials.py); the managed Dataform API's
`InvocationConfig.service_account` (installed google-cloud-dataform, dataform_v1 types); the
Dataform CLI's credentials file (installed @dataform/cli bundle and google-auth-library).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from google.auth.credentials import Credentials

from dayflow.impersonation import get_impersonated_credentials
from dayflow.spec import DataformJob, ManagedDataform
from dayflow.transforms.dataform import run_dataform
from dayflow.transforms.dataform_credentials import build_cli_credentials
from dayflow.transforms.dbt_profile import PROFILE_NAME, build_profile
from dayflow.transforms.token_broker import TokenBroker
from job_runner.api.deps import build_runner
from job_runner.core.config import JobRunnerSettings
from tests.google_fakes import FakeGoogle, user_credentials

from .fake_dataform import FakeDataform, ScriptedAction
from .semantic_layer import PROJECT, partition

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
        spec_path=PROJECT / "dayflow.yaml",
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
        project_dir="dataform",
        managed=ManagedDataform(repository="shop", git_commitish="v1.2.0"),
        tags=["daily_sales"],
    )
    result = run_dataform(
        job,
        spec_root=PROJECT,
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


def impersonated(google: FakeGoogle) -> Credentials:
    return get_impersonated_credentials(DATAFORM_SA, source_credentials=user_credentials())


def test_token_broker_serves_the_impersonated_accounts_tokens_to_its_holder_only() -> None:
    google = FakeGoogle(token_creator_on={DATAFORM_SA})
    with TokenBroker(impersonated(google), request=google) as broker:
        creds = broker.get_credentials_json()
        basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode())
        form = {"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]}
        ok = httpx.post(
            broker.token_url, data=form, headers={"Authorization": f"Basic {basic.decode()}"}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["access_token"] == f"access-token-of-{DATAFORM_SA}"
        assert 3000 < ok.json()["expires_in"] <= 3600
        stolen = httpx.post(broker.token_url, data={**form, "refresh_token": "guess"},
                            headers={"Authorization": f"Basic {basic.decode()}"})  # fmt: skip
        assert stolen.status_code == 401


@pytest.mark.skipif(
    shutil.which("node") is None, reason="needs Node.js (the Dataform CLI's runtime)"
)
def test_the_dataform_clis_auth_library_takes_its_token_from_the_broker() -> None:
    """The CLI's own google-auth-library, loading the credentials file we write."""
    google = FakeGoogle(token_creator_on={DATAFORM_SA})
    library = PROJECT / "dataform/node_modules/google-auth-library"
    with TokenBroker(impersonated(google), request=google) as broker:
        contents = build_cli_credentials(project="acme-shop-dev", location="europe-north1",
                                         broker=broker)  # fmt: skip
        script = (
            f"const {{GoogleAuth}} = require({json.dumps(str(library))});"
            f"const auth = new GoogleAuth({{credentials: JSON.parse(process.env.CREDS),"
            " scopes: ['https://www.googleapis.com/auth/cloud-platform']});"
            "auth.getAccessToken().then(t => console.log(t), e => {console.error(e); process.exit(1)});"
        )
        result = subprocess.run(
            ["node", "-e", script], env={"PATH": os.environ["PATH"], "CREDS": contents["credentials"]},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"access-token-of-{DATAFORM_SA}"
    assert broker.requests == 1


def test_dataform_cli_without_an_account_uses_default_credentials() -> None:
    contents = build_cli_credentials(project="acme-shop-dev", location="EU")
    assert contents == {"projectId": "acme-shop-dev", "location": "EU"}
