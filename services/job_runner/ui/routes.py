"""The status page: server-rendered HTML under /ui, read from the run ledger and Workflows.

- `/ui`: each pipeline with its freshness and its newest partitions;
- `/ui/pipelines/{name}?start=&end=`: the grid of partitions x jobs (default: newest week/day);
- `/ui/runs/{pipeline}/{job}/{partition_key}`: one run's attempts, errors and BigQuery job ids;
- `/ui/backfills`, `/ui/backfills/{backfill_id}`: recent backfills, their progress and failures;
- `/ui/backfills/new?...`: the dry-run plan and cost of a backfill (e.g. `only=failed`), whose
  confirm button posts to `POST /ui/backfills`, which starts it as `POST /backfills` does.

Read-only unless the caller may start backfills: the buttons show, and the POST is accepted,
only for callers that `job_runner.api.callers` admits to `POST /backfills` (every caller locally,
where checks are off). Templates autoescape everything; the one script (static/ui.js) reads its
input from form fields, never from data inlined into script. CSRF: the POST needs the header
`X-Dayflow-UI` (a cross-site form cannot set a header, and a cross-site fetch that sets one needs
a CORS preflight, which this app never grants) and, when the browser sends `Origin`, an origin
equal to the request's own host.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from dayflow.errors import NotFoundError, UserError
from dayflow.executions import BACKFILL_WORKFLOW, find_backfill, get_backfill_id
from dayflow.ledger import RunState
from dayflow.partition_bounds import PARTITION_KEY_PATTERN, get_default_range
from dayflow.partitions import PartitionKeyRange
from job_runner.api.callers import CallerNotAllowedError, is_caller_allowed
from job_runner.api.deps import ExecutionsFactoryDep, RunnerDep, SettingsDep
from job_runner.api.params import BackfillIdPath, PipelinePath, PipelineQuery
from job_runner.api.routes.backfills import create_backfill, read_backfill
from job_runner.api.routes.pipelines import get_range
from job_runner.domain import backfills
from job_runner.domain.freshness import read_freshness
from job_runner.domain.runner import JobRunner
from job_runner.models import BackfillCreate, BackfillPublic
from job_runner.ui import views

if TYPE_CHECKING:
    import jinja2

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)

_HERE = FilePath(__file__).parent


@functools.cache
def _get_templates() -> jinja2.Environment:
    """The templates, loaded on the page's first request: jinja2 costs every cold start of the
    job-runner about 80 ms, and most instances never serve the page."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        seconds=views.format_seconds, time=views.format_time, bytes=views.format_bytes
    )
    return env


_STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
# Recent backfills listed, newest first; partitions shown per pipeline on the first page.
RECENT_BACKFILLS = 20
NEWEST_PARTITIONS = 7
UI_HEADER = "x-dayflow-ui"
# Scripts and styles from this origin only (no inline script can run), and no framing.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
JobPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="a job")]
KeyPath = Annotated[str, Path(pattern=PARTITION_KEY_PATTERN, max_length=13)]

_KEY = {"pattern": PARTITION_KEY_PATTERN, "max_length": 13}
StartQuery = Annotated[str | None, Query(**_KEY, description="first key (default: see get_grid)")]
EndQuery = Annotated[str | None, Query(**_KEY, description="last key (default: see get_grid)")]


def may_start_backfills(request: Request) -> bool:
    """Whether this caller may start backfills (what the action buttons depend on)."""
    return is_caller_allowed(request, "POST", "/backfills")


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    html = (
        _get_templates()
        .get_template(template)
        .render(
            may_start=may_start_backfills(request), statuses=sorted(views.KNOWN_STATUSES), **context
        )
    )
    return HTMLResponse(html, headers=_HEADERS)


@router.get("", response_class=HTMLResponse)
async def read_pipelines(request: Request, runner: RunnerDep) -> HTMLResponse:
    """Each pipeline with its freshness and its newest partitions."""
    pipelines = await run_in_threadpool(_get_pipelines, runner)
    return render(request, "pipelines.html", pipelines=pipelines, now=runner.now())


def _get_pipelines(runner: JobRunner) -> list[dict[str, Any]]:
    today = runner.now().date()
    result = []
    for freshness in read_freshness(runner):
        name = freshness.pipeline
        pipeline = runner.get_pipeline(name)
        # The newest partitions run in the last week (a day of margin for timezones).
        states = runner.ledger.get_states(name, today - timedelta(days=8), today + timedelta(1))
        by_key: dict[str, list[RunState]] = {}
        for state in states:
            by_key.setdefault(state.partition_key, []).append(state)
        keys = sorted(by_key, reverse=True)[:NEWEST_PARTITIONS]
        newest = [(key, _partition_status(by_key[key], len(pipeline.jobs))) for key in keys]
        result.append(
            {"name": name, "freshness": freshness, "newest": newest,
             "granularity": pipeline.granularity, "jobs": list(pipeline.jobs)}
        )  # fmt: skip
    return result


def _partition_status(states: list[RunState], num_jobs: int) -> str:
    statuses = {s.status for s in states}
    for status in ("failed", "stale", "running", "queued", "waiting"):
        if status in statuses:
            return status
    if statuses == {"succeeded"} and len(states) == num_jobs:
        return "succeeded"
    return "missing"  # some jobs never ran


@router.get("/pipelines/{name}", response_class=HTMLResponse)
async def read_grid(
    request: Request,
    name: PipelinePath,
    runner: RunnerDep,
    settings: SettingsDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> HTMLResponse:
    """The grid of one pipeline: partitions (newest first) x jobs, over [start, end]."""
    grid = await run_in_threadpool(
        get_grid, runner, name, start, end, settings.max_range_partitions
    )
    return render(request, "grid.html", grid=grid)


def get_grid(
    runner: JobRunner, name: str, start: str | None, end: str | None, max_partitions: int
) -> views.Grid:
    """The grid over [start, end] (either missing: the default range), states read as GET /runs
    reads them."""
    pipeline = runner.get_pipeline(name)
    if start is None or end is None:
        default_start, default_end = get_default_range(
            pipeline.scheme, runner.now(), pipeline.start
        )
        start, end = start or default_start, end or default_end
    _, keys = get_range(runner, name, PartitionKeyRange(start, end), max_partitions)
    states = runner.ledger.get_states(
        name, pipeline.scheme.get_partition_date(start), pipeline.scheme.get_partition_date(end)
    )
    return views.build_grid(name, list(pipeline.jobs), keys[::-1], states)


@router.get("/runs/{pipeline}/{job}/{partition_key}", response_class=HTMLResponse)
async def read_run(
    request: Request, pipeline: PipelinePath, job: JobPath, partition_key: KeyPath,
    runner: RunnerDep,
) -> HTMLResponse:  # fmt: skip
    """One (pipeline, job, partition): every attempt, newest first, with its error."""
    spec_pipeline = runner.get_pipeline(pipeline)
    if job not in spec_pipeline.jobs:
        raise NotFoundError(
            f"job {job!r} not found in pipeline {pipeline!r} (expected one of: "
            f"{', '.join(spec_pipeline.jobs)})"
        )
    try:
        day = spec_pipeline.scheme.get_partition_date(partition_key)
    except ValueError as err:
        raise UserError(str(err)) from None
    attempts = await run_in_threadpool(
        runner.ledger.get_attempts, pipeline, job, partition_key, day
    )
    return render(
        request, "run.html", pipeline=pipeline, job=job, partition_key=partition_key,
        attempts=attempts,
    )  # fmt: skip


@router.get("/backfills", response_class=HTMLResponse)
async def read_backfills(
    request: Request, runner: RunnerDep, executions: ExecutionsFactoryDep
) -> HTMLResponse:
    """Running and recent backfills, newest first, with progress and failed keys."""
    listed = await run_in_threadpool(lambda: executions().list(BACKFILL_WORKFLOW, RECENT_BACKFILLS))
    rows = [await run_in_threadpool(_describe, runner, info) for info in listed]
    return render(request, "backfills.html", backfills=rows)


@router.get("/backfills/new", response_class=HTMLResponse)
async def read_backfill_plan(
    request: Request,
    runner: RunnerDep,
    settings: SettingsDep,
    pipeline: PipelineQuery,
    start: StartQuery = None,
    end: EndQuery = None,
    partition_keys: Annotated[str | None, Query(max_length=15_000)] = None,
    only: Annotated[str, Query(pattern="^(all|failed|missing)$")] = "failed",
) -> HTMLResponse:
    """The dry-run plan and estimated cost of a backfill (POST /backfills with dry_run), with
    the button that starts it."""
    keys = [k for k in partition_keys.split(",") if k] if partition_keys else None
    body = _body(pipeline, start, end, keys, only)
    body = body.model_copy(update={"dry_run": True})
    plan = await run_in_threadpool(_dry_run, runner, body, settings.max_range_partitions)
    return render(
        request, "backfill_new.html", plan=plan, request_body=body,
        keys_text=",".join(keys or []),
    )  # fmt: skip


def _body(
    pipeline: str, start: str | None, end: str | None, keys: list[str] | None, only: str
) -> BackfillCreate:
    fields: dict[str, Any] = {"pipeline": pipeline, "only": only}
    if keys:
        fields["partition_keys"] = keys
    else:
        if not start or not end:
            raise UserError(
                "a backfill needs start and end, or partition_keys (expected e.g. "
                "?pipeline=daily&start=2024-01-01&end=2024-01-07&only=failed)"
            )
        fields.update(start=start, end=end)
    try:
        return BackfillCreate.model_validate(fields, strict=False)
    except ValidationError as err:
        first = err.errors()[0]
        # The field and index, without pydantic's union tags (`list[constrained-str]`).
        where = ".".join(str(p) for p in first["loc"] if "[" not in str(p)) or "request"
        raise UserError(f"{where}: {first['msg']} (got {first.get('input')!r})") from None


def _dry_run(runner: JobRunner, body: BackfillCreate, max_partitions: int) -> dict[str, Any]:
    """What POST /backfills answers with dry_run (its plan and its estimate)."""
    request = backfills.BackfillRequest(**body.model_dump())
    spec_pipeline, plan = backfills.plan_chunks(runner, request, max_partitions)
    estimate = backfills.estimate(runner, spec_pipeline, plan)
    return {
        "keys": [p.partition_key for p in plan.partitions],
        "skipped": list(plan.skipped_keys),
        **estimate,
    }


@router.post("/backfills")
def start_backfill(
    request: Request,
    body: BackfillCreate,
    runner: RunnerDep,
    executions: ExecutionsFactoryDep,
    settings: SettingsDep,
    x_dayflow_ui: Annotated[str | None, Header()] = None,
) -> BackfillPublic:
    """Start a backfill from the page: POST /backfills, for callers allowed on it, from a page
    of this origin only (see the module docstring)."""
    if not x_dayflow_ui:
        raise CallerNotAllowedError(
            f"POST /ui/backfills needs the header {UI_HEADER} (expected a request from the page)"
        )
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and urlsplit(origin).netloc != host:
        raise CallerNotAllowedError(
            f"origin {origin!r} may not start backfills here (expected this page's own origin, "
            f"with host {host!r})"
        )
    if not may_start_backfills(request):
        raise CallerNotAllowedError("this caller may not start backfills (POST /backfills)")
    return create_backfill(body.model_copy(update={"dry_run": False}), runner, executions, settings)


@router.get("/backfills/{backfill_id}", response_class=HTMLResponse)
async def read_one_backfill(
    request: Request, backfill_id: BackfillIdPath, runner: RunnerDep,
    executions: ExecutionsFactoryDep,
) -> HTMLResponse:  # fmt: skip
    """One backfill: its execution's state and summary, its progress from the ledger."""
    info = await run_in_threadpool(lambda: find_backfill(executions(), backfill_id))
    row = await run_in_threadpool(_describe, runner, info)
    return render(request, "backfill.html", backfill=row)


def _describe(runner: JobRunner, info: Any) -> dict[str, Any]:
    """A backfill execution as the page shows it: its summary once done, its progress from the
    ledger while it runs."""
    backfill_id = get_backfill_id(info)
    argument = info.argument
    summary = info.result if isinstance(info.result, dict) else {}
    progress = None
    if not info.is_done or not summary:
        try:
            progress = read_backfill(backfill_id, runner)
        except NotFoundError:
            progress = None  # no run recorded yet
    failed_keys = list(summary.get("failed_keys") or (progress.failed_keys if progress else []))
    rerun = None
    if failed_keys and info.is_done:
        rerun = {"pipeline": argument.get("pipeline", ""), "only": "failed"}
        if argument.get("partition_keys"):
            rerun["partition_keys"] = ",".join(argument["partition_keys"])
        else:
            rerun.update(start=argument.get("start", ""), end=argument.get("end", ""))
    return {
        "backfill_id": backfill_id,
        "execution": info.name,
        "state": info.state,
        "error": info.error,
        "pipeline": argument.get("pipeline", ""),
        "range": _describe_range(argument),
        "only": argument.get("only", "all"),
        "start_time": info.start_time,
        "end_time": info.end_time,
        "summary": summary,
        "progress": progress,
        "failed_keys": failed_keys,
        "rerun": rerun,
    }


def _describe_range(argument: dict[str, Any]) -> str:
    keys = argument.get("partition_keys")
    if keys:
        return f"{len(keys)} keys ({keys[0]}..{keys[-1]})" if len(keys) > 1 else str(keys[0])
    return f"{argument.get('start', '?')}..{argument.get('end', '?')}"


@router.get("/static/{name}")
def read_static(name: str) -> Response:
    """The page's stylesheet and script (shipped in the package; no CDN)."""
    media_type = _STATIC.get(name)
    if media_type is None:
        raise NotFoundError(f"no static file {name!r} (expected one of: {', '.join(_STATIC)})")
    return Response((_HERE / "static" / name).read_bytes(), media_type=media_type,
                    headers={"Cache-Control": "max-age=300"})  # fmt: skip
