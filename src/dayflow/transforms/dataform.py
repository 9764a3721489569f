"""The `dataform` job kind: run a Dataform project for one partition.

By default it wraps the Dataform CLI pinned in the project's own `package.json`: first
`dataform compile --json --vars=...` (which reports a bad project or bad vars before anything
runs, and lists the actions), then `dataform run --vars=...`, whose log gives per-action results.
With `managed` set in the spec, a job instead runs in GCP through the managed Dataform API
(dataform_managed.py); runs against the local emulator always use the CLI on `project_dir`.

Time-outs: the whole run gets `timeout` seconds. Compilation is capped by `--timeout`, the run
by `--execution-timeout` (Dataform cancels in-flight BigQuery jobs when it fires), and each
subprocess by a wall-clock limit a little beyond that, after which its process group is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from dayflow.errors import ToolNotInstalledError, TransformError
from dayflow.transforms.dataform_credentials import build_cli_credentials
from dayflow.transforms.dataform_output import (
    CompiledAction,
    LoggedAction,
    parse_compiled_graph,
    parse_run_log,
    select_actions,
    strip_ansi,
)
from dayflow.transforms.partition_vars import PartitionVars, VarValue, build_vars
from dayflow.transforms.results import (
    NodeResult,
    TransformResult,
    describe_failure,
    is_transient,
    sum_rows,
)
from dayflow.transforms.token_broker import TokenBroker

if TYPE_CHECKING:
    from dayflow.spec import DataformJob
    from dayflow.transforms.dataform_managed import DataformApi

# Seconds a CLI subprocess may outlive its deadline (to cancel its BigQuery jobs) before its
# process group is killed: a tenth of the job's timeout, between 2 and 15.
_KILL_GRACE_MIN, _KILL_GRACE_MAX = 2.0, 15.0
_DEFAULT_LOCATION = "US"


def run_dataform(
    job: DataformJob,
    *,
    spec_root: Path,
    partition: PartitionVars,
    project: str,
    dataset_prefix: str,
    bigquery_endpoint: str | None,
    timeout: float,
    location: str | None = None,
    service_account: str | None = None,
    dataform_client: DataformApi | None = None,
) -> TransformResult:
    """Run the job's Dataform actions for one partition and return per-action results.

    Args:
        job: the spec's Dataform job.
        spec_root: the directory of `dayflow.yaml`; `job.project_dir` is relative to it.
        partition: the partition's key and UTC bounds, passed as Dataform vars.
        project: the GCP project (`local` for the emulator), Dataform's default database.
        dataset_prefix: the environment's dataset prefix, passed as the var `dataset_prefix`.
        bigquery_endpoint: None in GCP; the emulator's URL (`http://127.0.0.1:PORT`) locally.
        timeout: seconds for the whole run, compilation included.
        location: the BigQuery location (the environment's region) of every job and API call.
        service_account: in GCP, the account the run acts as: the managed API's workflow
            invocation runs under it; the CLI gets its tokens through a loopback broker (see
            dataform_credentials.py). Ignored locally.
        dataform_client: the managed Dataform API client (a real `DataformClient` by default).

    Returns:
        A TransformResult; `success` is False when an action or an assertion failed.

    Raises:
        ToolNotInstalledError: Node.js or the project's Dataform CLI is missing.
        TransformError: the project is missing or does not compile, a var is unusable, or the
            selection matches nothing.
    """
    run_vars = _stringify(build_vars(partition, dataset_prefix, job.vars))
    if job.managed is not None and bigquery_endpoint is None:
        from dayflow.transforms.dataform_managed import run_managed_dataform

        return run_managed_dataform(
            job,
            run_vars=run_vars,
            project=project,
            location=location,
            timeout=timeout,
            client=dataform_client,
            service_account=service_account,
        )
    if bigquery_endpoint is not None:
        service_account = None  # the emulator ignores authentication
    return _run_cli(
        job,
        project_dir=_check_project(spec_root, job.project_dir),
        run_vars=run_vars,
        project=project,
        location=location or _DEFAULT_LOCATION,
        bigquery_endpoint=bigquery_endpoint,
        timeout=timeout,
        service_account=service_account,
    )


def _stringify(run_vars: dict[str, VarValue]) -> dict[str, str]:
    """Dataform vars are strings: booleans become `true`/`false`."""
    return {
        k: ("true" if v else "false") if isinstance(v, bool) else str(v)
        for k, v in run_vars.items()
    }


def _check_project(spec_root: Path, project_dir: str) -> Path:
    path = (spec_root / project_dir).resolve()
    if not any((path / f).is_file() for f in ("workflow_settings.yaml", "dataform.json")):
        raise TransformError(
            f"Dataform project_dir {project_dir!r} ({path}) has no workflow_settings.yaml "
            "(expected a Dataform project directory, relative to dayflow.yaml)"
        )
    return path


def find_cli(project_dir: Path) -> Path:
    """The project's pinned Dataform CLI; raise ToolNotInstalledError naming the fix."""
    install = f"run `npm ci --prefix {project_dir}` (`make venv` does it for the example)"
    if shutil.which("node") is None:
        raise ToolNotInstalledError(
            f"Dataform jobs need Node.js 20 or newer on PATH (node not found); install it, "
            f"then {install}"
        )
    cli = project_dir / "node_modules" / ".bin" / "dataform"
    core = project_dir / "node_modules" / "@dataform" / "core" / "package.json"
    if not cli.is_file() or not core.is_file():
        raise ToolNotInstalledError(
            f"Dataform project {project_dir} has no installed @dataform/cli and @dataform/core "
            f"(pinned in its package.json): {install}"
        )
    return cli


def _vars_flag(run_vars: dict[str, str]) -> str:
    # The CLI splits `--vars` on commas and at the first `=`: a comma in a value cannot pass.
    bad = [k for k, v in run_vars.items() if "," in v]
    if bad:
        raise TransformError(
            f"Dataform var {bad[0]!r} = {run_vars[bad[0]]!r} contains a comma, which the "
            "Dataform CLI cannot pass (expected a value without commas)"
        )
    return "--vars=" + ",".join(f"{k}={v}" for k, v in run_vars.items())


def _run_cli(
    job: DataformJob,
    *,
    project_dir: Path,
    run_vars: dict[str, str],
    project: str,
    location: str,
    bigquery_endpoint: str | None,
    timeout: float,
    service_account: str | None,
) -> TransformResult:
    cli = find_cli(project_dir)
    started = time.monotonic()
    deadline = started + timeout
    env = _cli_env(bigquery_endpoint)
    common = [
        _vars_flag(run_vars),
        f"--default-database={project}",
        f"--default-location={location}",
    ]
    actions = _compile(cli, project_dir, common, env, deadline)
    selected = select_actions(actions, job.tags, job.actions)
    _check_selection(job, project_dir, actions, selected)
    if job.writes or bigquery_endpoint is None:  # in GCP, undeclared means a 403 mid-run
        _check_writes(job, project, run_vars.get("dataset_prefix", ""), selected)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dayflow-dataform-"))
        broker = None
        if service_account is not None:
            from dayflow.impersonation import get_impersonated_credentials

            broker = stack.enter_context(TokenBroker(get_impersonated_credentials(service_account)))
        credentials_file = Path(tmp) / ".df-credentials.json"
        # Application default credentials in GCP, or the broker's impersonated account; the
        # emulator ignores authentication. The directory is private to this process (0700).
        credentials_file.write_text(
            json.dumps(build_cli_credentials(project=project, location=location, broker=broker))
        )
        remaining = max(1.0, deadline - time.monotonic())
        argv = [
            str(cli), "run", str(project_dir), *common,
            f"--credentials={credentials_file}",
            f"--timeout={int(remaining)}s",
            f"--execution-timeout={int(remaining)}s",
        ]  # fmt: skip
        for tag in job.tags:
            argv += ["--tags", tag]
        for action in job.actions:
            argv += ["--actions", action]
        code, log, _, timed_out = _run(argv, env, remaining + _kill_grace(timeout))
    nodes = _nodes(selected, parse_run_log(log))
    if timed_out or (code != 0 and not any(n.status == "failed" for n in nodes)):
        message = (
            f"dataform run did not finish within {timeout:g} s"
            if timed_out
            else f"dataform run exited with code {code}: {_run_error(log)}"
        )
        nodes.append(
            NodeResult(name="dataform run", kind="operation", status="failed", message=message)
        )
    nodes = _with_job_stats(
        nodes,
        project=project,
        bigquery_endpoint=bigquery_endpoint,
        location=location,
        service_account=service_account,
    )
    failed = [n for n in nodes if n.status == "failed"]
    return TransformResult(
        tool="dataform",
        success=not failed,
        nodes=tuple(nodes),
        rows_written=sum_rows(nodes),
        seconds=time.monotonic() - started,
        error=describe_failure("dataform", nodes) if failed else None,
        transient=is_transient(nodes, timed_out=timed_out),
    )


def _kill_grace(timeout: float) -> float:
    return min(_KILL_GRACE_MAX, max(_KILL_GRACE_MIN, timeout / 10))


def _run_error(log: str) -> str:
    """The CLI's own error line from a failed run's log, without the stack trace."""
    lines = [line.strip() for line in strip_ansi(log).splitlines()]
    lines = [line for line in lines if line and not line.startswith("at ")]
    for line in lines:
        if "encountered an error" in line.lower():
            return line
    return " ".join(lines[-3:])


def _cli_env(bigquery_endpoint: str | None) -> dict[str, str]:
    env = dict(os.environ)
    # The caller's endpoint decides where BigQuery is, never an inherited variable.
    env.pop("BIGQUERY_EMULATOR_HOST", None)
    env["NO_COLOR"] = "1"
    if bigquery_endpoint is not None:
        # The Node BigQuery client expects the API root, including /bigquery/v2.
        env["BIGQUERY_EMULATOR_HOST"] = bigquery_endpoint.rstrip("/") + "/bigquery/v2"
        # Skip probing for a GCE metadata server, which only slows local runs down.
        env["METADATA_SERVER_DETECTION"] = "none"
    return env


def _compile(
    cli: Path, project_dir: Path, common: list[str], env: dict[str, str], deadline: float
) -> list[CompiledAction]:
    remaining = max(1.0, deadline - time.monotonic())
    argv = [
        str(cli),
        "compile",
        str(project_dir),
        "--json",
        *common,
        f"--timeout={int(remaining)}s",
    ]
    code, output, errors_text, timed_out = _run(
        argv, env, remaining + _kill_grace(remaining), merge_stderr=False
    )
    if timed_out:
        raise TransformError(
            f"Dataform project {project_dir} did not compile within the job's timeout"
        )
    try:
        graph = json.loads(output)
    except json.JSONDecodeError:
        detail = " ".join(strip_ansi(errors_text or output).split())[:500]
        raise TransformError(
            f"Dataform project {project_dir} does not compile (exit code {code}): {detail}"
        ) from None
    errors, actions = parse_compiled_graph(graph)
    if errors:
        raise TransformError(
            f"Dataform project {project_dir} does not compile: " + "; ".join(errors[:5])
        )
    return actions


def _check_selection(
    job: DataformJob,
    project_dir: Path,
    actions: list[CompiledAction],
    selected: list[CompiledAction],
) -> None:
    unknown = [n for n in job.actions if not select_actions(actions, [], [n])]
    if unknown:
        raise TransformError(
            f"Dataform action {unknown[0]!r} is not in project {project_dir} (expected one of: "
            f"{', '.join(sorted(a.name for a in actions))})"
        )
    if not [a for a in selected if not a.disabled]:
        raise TransformError(
            f"Dataform selection (tags {job.tags}, actions {job.actions}) matches no enabled "
            f"actions in {project_dir} (check the job's tags and actions in dayflow.yaml)"
        )


def _check_writes(
    job: DataformJob, project: str, prefix: str, selected: list[CompiledAction]
) -> None:
    """Every dataset the selected actions write is one the job declares in `writes`.

    Infra creates exactly the declared datasets and lets the Dataform account write exactly
    those; the CLI would `CREATE SCHEMA` any other one, which needs project-level
    `bigquery.datasets.create` (never granted). Failing here names the fix before any write.
    """
    declared = {f"{prefix}{d}" for d in job.writes}
    for action in selected:
        if action.disabled or action.database not in ("", project):
            continue
        if action.schema not in declared:
            logical = action.schema.removeprefix(prefix)
            raise TransformError(
                f"Dataform action {action.target} writes dataset {logical!r}, which the job "
                f"does not declare (expected `writes` to list it; declared: "
                f"{', '.join(job.writes) or 'none'}): infra creates and grants only those"
            )


def _run(
    argv: list[str], env: dict[str, str], limit: float, *, merge_stderr: bool = True
) -> tuple[int, str, str, bool]:
    """Run `argv` in its own process group; kill the group after `limit` seconds.

    Returns the exit code, stdout (with stderr merged in, in order, if `merge_stderr`), stderr
    (if not merged) and whether it timed out.
    """
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        start_new_session=True,  # the CLI starts workers: kill them with it
    ) as proc:
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return -signal.SIGKILL, out or "", err or "", True
    return proc.returncode, out or "", err or "", False


def _nodes(selected: list[CompiledAction], logged: list[LoggedAction]) -> list[NodeResult]:
    """One result per selected action: as logged, else `not_run`; logged extras are kept."""
    by_target = {a.target: a for a in selected}
    nodes = []
    for entry in logged:
        action = by_target.pop(entry.target, None)
        kind = action.kind if action else entry.kind
        nodes.append(
            NodeResult(
                name=action.name if action else entry.target.rsplit(".", 1)[-1],
                kind=kind,
                status=entry.status,
                failures=entry.failures
                if kind == "assertion" and entry.status == "failed"
                else None,
                message=entry.message,
                bigquery_job_ids=tuple(entry.job_ids),
            )
        )
    for action in by_target.values():
        nodes.append(
            NodeResult(
                name=action.name,
                kind=action.kind,
                status="skipped" if action.disabled else "not_run",
                message="disabled" if action.disabled else None,
            )
        )
    return nodes


def _with_job_stats(
    nodes: list[NodeResult],
    *,
    project: str,
    bigquery_endpoint: str | None,
    location: str,
    service_account: str | None,
) -> list[NodeResult]:
    """Fill in rows (tables) and seconds (all actions) from the BigQuery jobs they ran."""
    if not any(n.bigquery_job_ids for n in nodes):
        return nodes
    from dayflow.transforms.job_stats import open_stats_client, read_job_stats

    client = open_stats_client(
        project, bigquery_endpoint, location, service_account, tool="dataform"
    )
    try:
        # One jobs API read per job: in parallel, as an assertion alone runs two jobs.
        with ThreadPoolExecutor(max_workers=8) as pool:
            stats = list(pool.map(lambda n: read_job_stats(client, n.bigquery_job_ids), nodes))
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return [
        node.model_copy(
            update={
                "rows": st.rows if node.kind == "model" and node.status == "succeeded" else None,
                "seconds": st.seconds,
            }
        )
        if node.bigquery_job_ids
        else node
        for node, st in zip(nodes, stats, strict=True)
    ]
