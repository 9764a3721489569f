"""One evaluation of the IAM contract: run the workloads, resolve infra's grants, compare.

Shared by the contract test's fixture and the README table generator (`tests.iam.table`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.iam.api_calls import Analysis, analyse, get_workload
from tests.iam.contract import Report, check
from tests.iam.grants import Deployed, resolve
from tests.iam.recorder import HttpCall
from tests.iam.workloads import WorkloadRun, run_workloads

STACK = "dev"


@dataclass
class Evaluation:
    run: WorkloadRun
    analysis: Analysis
    deployed: Deployed
    report: Report
    region: str | None

    @property
    def workloads(self) -> list[str]:
        return sorted({get_workload(c) for c in self.run.calls})

    def recheck(self, deployed: Deployed) -> Report:
        """The check against another deployment (e.g. one grant removed)."""
        return check(self.analysis, deployed, region=self.region, workloads=self.workloads)


def resolve_infra(spec_path: Path) -> Deployed:
    """Run the Pulumi program (stack dev, this spec) under mocks; return grants and identities."""
    from dayflow.spec import load_spec
    from job_runner.core.config import JobRunnerSettings
    from tests.infra.pulumi_harness import run_program

    deployment = run_program(STACK, {"specPath": str(spec_path)})
    prefix = load_spec(spec_path).get_environment(STACK).dataset_prefix
    return resolve(deployment, JobRunnerSettings.model_fields, prefix)


def _list_datasets(bigquery_endpoint: str) -> set[str]:
    from dayflow.warehouse import make_bigquery_client

    with make_bigquery_client("local", bigquery_endpoint) as client:
        return {d.dataset_id for d in client.list_datasets()}


@contextmanager
def evaluate(bigquery_endpoint: str, tmp: Path) -> Iterator[Evaluation]:
    """Record every workload's calls once and check them against infra's grants."""
    from dayflow.spec import load_spec

    with run_workloads(bigquery_endpoint, tmp) as run:
        deployed = resolve_infra(run.spec_path)
        prefix = run.dataset_prefix

        def logical(dataset_id: str) -> str:
            return dataset_id.removeprefix(prefix)

        def service_of(call: HttpCall) -> str:
            # A workflow's calls go to the service its JOB_RUNNER_URL names in GCP.
            workflow = next(w for w, i in run.workflows.items() if i == call.identity)
            return deployed.workflow_targets.get(workflow, "?")

        analysis = analyse(
            run.calls,
            logical=logical,
            datasets=_list_datasets(bigquery_endpoint),
            identity_of=deployed.acting,
            service_of=service_of,
            intended_of=deployed.intended,
        )
        region = load_spec(run.spec_path).get_environment(STACK).region
        workloads = sorted({get_workload(c) for c in run.calls})
        report = check(analysis, deployed, region=region, workloads=workloads)
        yield Evaluation(run, analysis, deployed, report, region)
