"""The `dbt` job kind: run a dbt project for one partition, in process, through `dbtRunner`.

A run parses the project with the partition's vars, then `dbt build`s the job's selection (models
and their tests in DAG order, so a failing test stops everything downstream of it). Tests listed
in the job's `warn_tests` are left out of the build and run afterwards with `dbt test`, so their
failures neither fail the job nor skip other nodes.

Re-parsing: `config()` values (here the partition a model replaces) are fixed when the project is
parsed. Each run therefore parses from scratch (`--no-partial-parse`) into its own temporary
target directory, and hands that manifest to the build. dbt 1.11 would also notice changed
`--vars` and re-parse, but a shared target directory is unsafe anyway: two partitions running in
one container would overwrite each other's manifest and run results. A full parse of a small
project costs about a second.

dbt keeps process-wide state (flags, the adapter registry), so runs in one process take turns
(`_DBT_LOCK`); run transform jobs with Cloud Run concurrency 1, or expect them to queue.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dayflow.errors import ToolNotInstalledError, TransformError
from dayflow.transforms.dbt_profile import PROFILE_NAME, build_profile
from dayflow.transforms.partition_vars import PartitionVars, build_vars
from dayflow.transforms.results import (
    NodeKind,
    NodeResult,
    NodeStatus,
    TransformResult,
    describe_failure,
    is_transient,
    sum_rows,
)

if TYPE_CHECKING:
    from dayflow.spec import DbtJob

_DBT_LOCK = threading.Lock()
_INSTALL_HINT = "install it with: pip install 'dbt-core>=1.11,<1.12' 'dbt-bigquery>=1.11,<1.13'"
_MISSING_VAR = re.compile(r"Required var '([^']+)' not found")
_KINDS: dict[str, NodeKind] = {
    "model": "model",
    "test": "test",
    "unit_test": "test",
    "seed": "seed",
    "snapshot": "snapshot",
    "operation": "operation",
}
_STATUSES: dict[str, NodeStatus] = {
    "success": "succeeded",
    "pass": "succeeded",
    "no-op": "succeeded",
    "warn": "warned",
    "skipped": "skipped",
    "error": "failed",
    "fail": "failed",
    "runtime error": "failed",
    "partial success": "failed",
}


def run_dbt(
    job: DbtJob,
    *,
    spec_root: Path,
    partition: PartitionVars,
    project: str,
    dataset_prefix: str,
    bigquery_endpoint: str | None,
    timeout: float,
    location: str | None = None,
    environment: str | None = None,
    service_account: str | None = None,
    artifacts_dir: Path | None = None,
) -> TransformResult:
    """Build the job's dbt selection for one partition and return per-node results.

    Args:
        job: the spec's dbt job.
        spec_root: the directory of `dayflow.yaml`; `job.project_dir` is relative to it.
        partition: the partition's key and UTC bounds, passed as dbt vars.
        project: the GCP project (`local` for the emulator).
        dataset_prefix: the environment's dataset prefix, passed as the var `dataset_prefix`.
        bigquery_endpoint: None in GCP; the emulator's URL (`http://127.0.0.1:PORT`) locally.
        timeout: seconds; caps each BigQuery job dbt submits and the wait for a concurrent run.
        location: the BigQuery location of new datasets (the environment's region).
        environment: the dayflow environment (dev, prod); in GCP it names the dbt target
            unless the job sets `target`. Local runs always use the target `local`.
        service_account: in GCP, the account dbt acts as (impersonated); None: the caller's own.
        artifacts_dir: keep dbt's target directory (manifest, compiled and run SQL) here.

    Returns:
        A TransformResult; `success` is False when a model or a test (not in `warn_tests`) failed.

    Raises:
        ToolNotInstalledError: dbt-core or dbt-bigquery is missing.
        TransformError: the project is missing or does not parse, a var is missing (found
            at parse time, or when a node compiles), or the selection matches nothing.
    """
    project_dir = _check_project(spec_root, job.project_dir)
    run_vars = build_vars(partition, dataset_prefix, job.vars)
    dbt_runner = _import_dbt_runner()
    started = time.monotonic()
    if not _DBT_LOCK.acquire(timeout=timeout):
        return TransformResult(
            tool="dbt",
            success=False,
            nodes=(),
            rows_written=None,
            seconds=time.monotonic() - started,
            error=f"dbt: another dbt run in this process did not finish within {timeout:g} s",
            transient=True,
        )
    try:
        with tempfile.TemporaryDirectory(prefix="dayflow-dbt-") as tmp:
            work = Path(tmp)
            target_dir = artifacts_dir or work / "target"
            target_name, profile = build_profile(
                project=project,
                dataset=f"{dataset_prefix}{job.dataset}",
                location=location,
                bigquery_endpoint=bigquery_endpoint,
                timeout=timeout,
                target=job.target or environment,
                impersonate_service_account=service_account,
            )
            (work / "profiles.yml").write_text(yaml.safe_dump(profile))
            common = [
                "--project-dir", str(project_dir),
                "--profiles-dir", str(work),
                "--profile", PROFILE_NAME,
                "--target", target_name,
                "--vars", json.dumps(run_vars),
                "--target-path", str(target_dir),
                "--log-path", str(work / "logs"),
                "--log-level-file", "none",
                "--no-partial-parse",
                "--no-send-anonymous-usage-stats",
                "--no-version-check",
                "--no-use-colors",
            ]  # fmt: skip
            manifest = _parse(dbt_runner, common, project_dir)
            runner = dbt_runner(manifest=manifest)
            nodes = _build(runner, common, job, project_dir)
            if job.warn_tests:
                nodes += _run_warn_tests(runner, common, job)
    finally:
        _DBT_LOCK.release()
    nodes = _with_rows(
        nodes,
        project=project,
        bigquery_endpoint=bigquery_endpoint,
        location=location,
        service_account=service_account,
    )
    error = describe_failure("dbt", nodes)
    failed = [n for n in nodes if n.status == "failed"]
    return TransformResult(
        tool="dbt",
        success=not failed,
        nodes=tuple(nodes),
        rows_written=sum_rows(nodes),
        seconds=time.monotonic() - started,
        error=error if failed else None,
        transient=is_transient(nodes),
    )


def _check_project(spec_root: Path, project_dir: str) -> Path:
    path = (spec_root / project_dir).resolve()
    if not (path / "dbt_project.yml").is_file():
        raise TransformError(
            f"dbt project_dir {project_dir!r} ({path}) has no dbt_project.yml "
            "(expected a dbt project directory, relative to dayflow.yaml)"
        )
    return path


def _import_dbt_runner() -> Any:
    try:
        from dbt.cli.main import dbtRunner
    except ImportError as err:
        raise ToolNotInstalledError(f"dbt jobs need dbt-core: {_INSTALL_HINT}") from err
    try:
        import dbt.adapters.bigquery  # noqa: F401
    except ImportError as err:
        raise ToolNotInstalledError(f"dbt jobs need dbt-bigquery: {_INSTALL_HINT}") from err
    return dbtRunner


def _parse(dbt_runner: Any, common: list[str], project_dir: Path) -> Any:
    result = dbt_runner().invoke(["parse", *common])
    if result.success:
        return result.result
    message = " ".join(str(result.exception or "dbt parse failed").split())
    _raise_if_missing_var(message, project_dir)
    raise TransformError(f"dbt project {project_dir} does not parse: {message}")


def _raise_if_missing_var(message: str, project_dir: Path) -> None:
    """A var missing at parse time (in config()) or at compile time (in SQL) is a user error."""
    if match := _MISSING_VAR.search(message):
        raise TransformError(
            f"dbt project {project_dir} needs var {match[1]!r}: add it to the job's `vars` "
            "in dayflow.yaml (dayflow itself passes partition_key, partition_start, "
            "partition_end and dataset_prefix)"
        )


def _build(runner: Any, common: list[str], job: DbtJob, project_dir: Path) -> list[NodeResult]:
    args = ["build", *common]
    if job.select:
        args += ["--select", *job.select]
    if job.exclude or job.warn_tests:
        args += ["--exclude", *job.exclude, *job.warn_tests]
    result = runner.invoke(args)
    run_results = getattr(result.result, "results", None)
    if not result.success and not run_results:
        # Nothing ran: dbt could not even start (e.g. BigQuery unreachable when listing datasets).
        message = " ".join(str(result.exception or "dbt build failed").split())
        return [
            NodeResult(
                name="dbt build",
                kind="operation",
                status="failed",
                message=message,
            )
        ]
    if not run_results:
        selection = " ".join(job.select) or "(everything)"
        raise TransformError(
            f"dbt selection {selection} matches no models or tests in {project_dir} "
            "(check the job's select and exclude in dayflow.yaml)"
        )
    nodes = [_node_result(r, warn=False) for r in run_results]
    for node in nodes:
        if node.status == "failed" and node.message:
            _raise_if_missing_var(node.message, project_dir)
    return nodes


def _run_warn_tests(runner: Any, common: list[str], job: DbtJob) -> list[NodeResult]:
    args = ["test", *common, "--select", *job.warn_tests]
    if job.exclude:
        args += ["--exclude", *job.exclude]
    result = runner.invoke(args)
    return [_node_result(r, warn=True) for r in getattr(result.result, "results", None) or []]


def _node_result(result: Any, *, warn: bool) -> NodeResult:
    node = result.node
    kind = _KINDS.get(str(node.resource_type), "operation")
    status = _STATUSES.get(str(result.status), "failed")
    if warn and status == "failed":
        status = "warned"
    response = result.adapter_response or {}
    job_id = response.get("job_id")
    return NodeResult(
        name=node.name,
        kind=kind,
        status=status,
        rows=response.get("rows_affected") if kind != "test" else None,
        failures=result.failures if kind == "test" else None,
        seconds=round(result.execution_time, 3),
        message=result.message,
        bigquery_job_ids=(job_id,) if job_id else (),
    )


def _with_rows(
    nodes: list[NodeResult],
    *,
    project: str,
    bigquery_endpoint: str | None,
    location: str | None,
    service_account: str | None,
) -> list[NodeResult]:
    """Replace dbt's row counts of models by the rows their BigQuery jobs wrote."""
    if not any(n.kind == "model" and n.bigquery_job_ids for n in nodes):
        return nodes
    from dayflow.transforms.job_stats import open_stats_client, read_job_stats

    client = open_stats_client(project, bigquery_endpoint, location, service_account, tool="dbt")
    try:
        updated = []
        for node in nodes:
            if node.kind == "model" and node.status == "succeeded" and node.bigquery_job_ids:
                rows = read_job_stats(client, node.bigquery_job_ids).rows
                node = node.model_copy(update={"rows": node.rows if rows is None else rows})
            updated.append(node)
        return updated
    finally:
        client.close()  # type: ignore[no-untyped-call]
