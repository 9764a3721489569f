"""The IAM check's rules on small hand-made inputs (no emulator): inheritance, project-only
permissions, unmapped calls, SQL statement kinds."""

from __future__ import annotations

from tests.iam.api_calls import PROJECT, Analysis, Need, Resource, analyse
from tests.iam.contract import check
from tests.iam.grants import Deployed, Grant
from tests.iam.recorder import HttpCall

MART = Resource("dataset", "mart")
TABLE = Resource("table", "mart.daily_sales")


def _deployed(*grants: Grant) -> Deployed:
    return Deployed(list(grants), {"job-runner": "job-runner"}, {"job-runner": "job-runner"})


def _need(permission: str, resource: Resource) -> Need:
    return Need("job-runner", "m", permission, resource, "src")


def _check(deployed: Deployed, *needs: Need) -> list[str]:
    analysis = Analysis(set(needs), [], [])
    report = check(analysis, deployed, region=None, workloads=["job-runner"])
    return [f.permission for f in report.findings]


def test_a_dataset_grant_covers_its_tables_but_not_the_project() -> None:
    editor = Grant("job-runner", "roles/bigquery.dataEditor", MART, "g")
    found = _check(
        _deployed(editor),
        _need("bigquery.tables.updateData", TABLE),
        _need("bigquery.datasets.create", PROJECT),
    )
    assert found == ["bigquery.datasets.create"]


def test_a_grant_to_another_account_or_of_a_narrower_role_does_not_count() -> None:
    other = Grant("dbt", "roles/bigquery.dataEditor", MART, "g1")
    viewer = Grant("job-runner", "roles/bigquery.dataViewer", MART, "g2")
    found = _check(_deployed(other, viewer), _need("bigquery.tables.updateData", TABLE))
    assert found == ["bigquery.tables.updateData"]


def _call(verb: str, path: str, body: object = None) -> HttpCall:
    return HttpCall("job-runner", verb, path, {}, body, "gl-python/3.13", 200)


def _analyse(*calls: HttpCall) -> Analysis:
    return analyse(
        calls,
        logical=lambda d: d.removeprefix("t1_"),
        datasets={"t1_mart", "t1_staging", "raw"},
        identity_of={"job-runner": "job-runner"},
        service_of=lambda c: "svc",
    )


def test_an_unknown_bigquery_call_is_reported_unmapped() -> None:
    analysis = _analyse(_call("POST", "/bigquery/v2/projects/local/datasets/t1_mart/copy"))
    assert [u.path for u in analysis.unmapped] == [
        "/bigquery/v2/projects/local/datasets/t1_mart/copy"
    ]


def test_a_query_job_needs_write_on_its_target_and_read_on_its_sources() -> None:
    sql = (
        "/* t1_mart.not_a_ref */ MERGE `local.t1_mart.daily_sales` AS T USING "
        "(SELECT * FROM t1_staging.stg_orders JOIN raw.orders AS o USING (id)) AS S ON T.id = S.id"
    )
    body = {"configuration": {"query": {"query": sql}}, "jobReference": {"jobId": "j1"}}
    analysis = _analyse(_call("POST", "/bigquery/v2/projects/local/jobs", body))
    needs = {(n.permission, n.resource.name) for n in analysis.needs}
    assert needs == {
        ("bigquery.jobs.create", ""),
        ("bigquery.tables.updateData", "mart.daily_sales"),
        ("bigquery.tables.getData", "mart.daily_sales"),
        ("bigquery.tables.getData", "staging.stg_orders"),
        ("bigquery.tables.getData", "raw.orders"),
    }
    assert analysis.job_calls[0].location is None


def test_grants_resolve_at_their_level_and_dbt_runs_as_its_account_once_settings_read_it() -> None:
    from tests.iam.grants import resolve
    from tests.infra.pulumi_harness import run_program

    deployment = run_program("dev")
    today = resolve(deployment, {"spec_path"}, "dev_")
    levels = {(g.member, g.role, g.resource) for g in today.grants}
    assert ("job-runner", "roles/bigquery.dataEditor", MART) in levels
    assert ("job-runner", "roles/bigquery.jobUser", PROJECT) in levels
    # Every workflow runs as the one Workflows account (dayflow/infra/components/service_accounts.py).
    invoker = ("workflows", "roles/run.invoker", Resource("service", "dayflow-job-runner"))
    assert invoker in levels
    assert today.acting["dbt"] == "job-runner" and today.intended["dbt"] == "dbt"

    fixed = resolve(deployment, {"spec_path", "dbt_service_account"}, "dev_")
    assert fixed.acting["dbt"] == "dbt"
