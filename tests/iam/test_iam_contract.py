"""The IAM contract test (issue 9): every Google API call each workload makes is granted, by the
Pulumi program, to the account the workload runs as; every grant is used or justified.

Runs the job-runner (through the Workflows YAML on our engine), dbt, Dataform and the ingest
function once against the local stand-ins through recording proxies (tests/iam/workloads.py),
resolves the program's grants under Pulumi mocks (tests/iam/grants.py) and compares them with
Google's method and role tables (tests/iam/permissions.py).
"""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.iam.evaluate import Evaluation
from tests.iam.known_gaps import JUSTIFIED_GRANTS, KNOWN_GAPS
from tests.iam.permissions import ROLES
from tests.iam.table import END, START, render

pytestmark = pytest.mark.emulator


def _summarise(evaluation: Evaluation, summary: list[str]) -> None:
    report = evaluation.report
    lines = ["findings that are KNOWN_GAPS (tests/iam/known_gaps.py; empty it as they close):"]
    lines += [f"  [{KNOWN_GAPS[f.key]}] {f}" for f in report.findings if f.key in KNOWN_GAPS]
    lines.append("granted, but used by no recorded call (remove, or justify in known_gaps.py):")
    for unused in report.unused:
        why = JUSTIFIED_GRANTS.get(unused.grant.name)
        lines.append(f"  {unused}" + (f" -- justified: {why}" if why else " -- UNJUSTIFIED"))
    if not summary:
        summary.extend(lines)


def test_every_recorded_call_is_granted_to_the_account_its_workload_runs_as(
    evaluation: Evaluation, iam_summary: list[str]
) -> None:
    _summarise(evaluation, iam_summary)
    unexpected = [f for f in evaluation.report.findings if f.key not in KNOWN_GAPS]
    assert not unexpected, "IAM contract broken:\n" + "\n".join(f"- {f}" for f in unexpected)


def test_every_known_gap_is_still_found(evaluation: Evaluation) -> None:
    found = {f.key for f in evaluation.report.findings}
    closed = [f"{key} [{why}]" for key, why in KNOWN_GAPS.items() if key not in found]
    assert not closed, "KNOWN_GAPS entries no longer found (remove them):\n" + "\n".join(closed)


def test_the_recording_saw_every_workload(evaluation: Evaluation) -> None:
    expected = {"job-runner", "dbt", "dataform", "ingest"}
    expected |= {f"wf-{stem.replace('_', '-')}" for stem in evaluation.run.workflows}
    assert expected <= set(evaluation.workloads)
    assert {"backfill", "backfill_chunk", "run_partition"} <= set(evaluation.run.workflows)


def test_removing_a_grant_turns_the_check_red_naming_call_permission_and_account(
    evaluation: Evaluation,
) -> None:
    deployed = evaluation.deployed
    grant = next(
        g
        for g in deployed.grants
        if g.member == deployed.acting["ingest"] and g.role == "roles/bigquery.dataEditor"
    )
    before = {f.key for f in evaluation.report.findings}
    after = evaluation.recheck(deployed.without(grant)).findings
    new = [f for f in after if f.key not in before]
    assert new, f"removing {grant} changed nothing"
    assert any(
        f.workload == "ingest"
        and f.permission == "bigquery.tables.updateData"
        and f.account == deployed.acting["ingest"]
        and "tabledata.insertAll" in f.message
        and f.key not in KNOWN_GAPS
        for f in new
    ), [str(f) for f in new]


def test_every_role_the_program_grants_has_a_permission_table_row(
    evaluation: Evaluation,
) -> None:
    roles = {g.role for g in evaluation.deployed.grants}
    assert roles <= set(ROLES), sorted(roles - set(ROLES))


def test_every_unused_grant_is_justified_or_listed(evaluation: Evaluation) -> None:
    """Unused grants are reported (see the summary); justifications must name real grants."""
    names = {g.name for g in evaluation.deployed.grants}
    assert set(JUSTIFIED_GRANTS) <= names, sorted(set(JUSTIFIED_GRANTS) - names)


def test_readme_iam_table_is_generated(evaluation: Evaluation) -> None:
    readme = (ROOT / "README.md").read_text()
    assert START in readme and END in readme, "README.md lacks the iam-table markers"
    # One table, in the deploy section ("Who may do what").
    assert readme.count(START) == readme.count(END) == 1, "README.md has more than one table"
    assert readme.index("### Who may do what") < readme.index(START)
    current = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == render(evaluation).strip(), (
        "README.md's IAM table is stale: run `python -m tests.iam.table --write README.md`"
    )


def test_the_sql_jobs_read_the_declared_source_through_its_grant_alone(
    evaluation: Evaluation,
) -> None:
    """`raw` exists outside dayflow: its dataset grant is the only way the job-runner reads it."""
    deployed = evaluation.deployed
    (grant,) = [g for g in deployed.grants if g.resource.name == "raw"]
    assert (grant.member, grant.role) == ("job-runner", "roles/bigquery.dataViewer")
    after = evaluation.recheck(deployed.without(grant)).findings
    assert {(f.account, f.permission, str(f.resource)) for f in after} == {
        ("job-runner", "bigquery.tables.getData", "dataset raw")
    }
