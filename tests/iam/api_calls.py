"""Recorded HTTP calls -> the API method each is, and the permissions it needs on which resource.

BigQuery REST paths map to methods (`POST /bigquery/v2/projects/P/jobs` is `jobs.insert`).
A query job also needs permissions on the tables its SQL names: the SQL is read for table
references and for the statement acting on each (read, INSERT, DML, CREATE, ...). Resources are
named logically, as infra names them: datasets without the environment's prefix (`mart`),
tables as `dataset.table`, the project as "". Which workload made a call is its port's
identity, except on the job-runner's port, where dbt and the Dataform CLI are told apart by
their User-Agent (they share the job-runner's endpoint), as are the job-runner's reads of their
jobs' statistics, which it makes with their account (`job_stats.open_stats_client`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.iam.permissions import JOB_OF_OTHERS, METHODS, SQL_PERMISSIONS, SQL_SOURCE
from tests.iam.recorder import HttpCall

JOB_RUNNER, DBT, DATAFORM = "job-runner", "dbt", "dataform"
# dbt-bigquery and the Dataform CLI's Node client; and the job-runner's reads of their jobs'
# statistics, which it makes as their account in GCP (dayflow.transforms.job_stats).
_USER_AGENTS = {
    "dbt-bigquery": DBT,
    "gcloud-node-bigquery": DATAFORM,
    "dayflow-job-stats/dbt": DBT,
    "dayflow-job-stats/dataform": DATAFORM,
}
_PREFIX = "/bigquery/v2/projects/"
_JOB_METHODS = {"bigquery.jobs.get", "bigquery.jobs.getQueryResults", "bigquery.jobs.cancel"}

# (verb, path pattern after /bigquery/v2/projects/) -> method
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (v, re.compile(p), m)
    for v, p, m in [
        ("POST", r"(?P<p>[^/]+)/jobs", "bigquery.jobs.insert"),
        ("GET", r"(?P<p>[^/]+)/jobs", "bigquery.jobs.list"),
        ("GET", r"(?P<p>[^/]+)/jobs/(?P<job>[^/]+)", "bigquery.jobs.get"),
        ("POST", r"(?P<p>[^/]+)/jobs/(?P<job>[^/]+)/cancel", "bigquery.jobs.cancel"),
        ("POST", r"(?P<p>[^/]+)/queries", "bigquery.jobs.query"),
        ("GET", r"(?P<p>[^/]+)/queries/(?P<job>[^/]+)", "bigquery.jobs.getQueryResults"),
        ("GET", r"(?P<p>[^/]+)/datasets", "bigquery.datasets.list"),
        ("POST", r"(?P<p>[^/]+)/datasets", "bigquery.datasets.insert"),
        ("GET", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)", "bigquery.datasets.get"),
        ("GET", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables", "bigquery.tables.list"),
        ("POST", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables", "bigquery.tables.insert"),
        ("GET", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/routines", "bigquery.routines.list"),
        ("GET", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)", "bigquery.tables.get"),
        ("PATCH", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)", "bigquery.tables.patch"),
        ("PUT", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)", "bigquery.tables.update"),
        ("DELETE", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)", "bigquery.tables.delete"),
        ("POST", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)/insertAll", "bigquery.tabledata.insertAll"),
        ("GET", r"(?P<p>[^/]+)/datasets/(?P<d>[^/]+)/tables/(?P<t>[^/]+)/data", "bigquery.tabledata.list"),
    ]
]  # fmt: skip

_COMMENTS = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_REF = re.compile(r"`?(?:local`?\.`?)?([A-Za-z_]\w*)`?\.`?([A-Za-z_]\w*)`?")
_SCHEMA = re.compile(r"CREATE\s+SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(?:local\.)?(\w+)`?", re.I)
_ACTIONS: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(pattern + r"\s*$", re.I))
    for kind, pattern in [
        ("create_or_replace", r"CREATE\s+OR\s+REPLACE\s+(?:TEMP(?:ORARY)?\s+)?(?:TABLE|VIEW|MATERIALIZED\s+VIEW)"),
        ("create", r"CREATE\s+(?:TEMP(?:ORARY)?\s+)?(?:TABLE|VIEW|MATERIALIZED\s+VIEW)(?:\s+IF\s+NOT\s+EXISTS)?"),
        ("insert", r"INSERT(?:\s+INTO)?"),
        ("dml", r"(?:MERGE(?:\s+INTO)?|DELETE(?:\s+FROM)?|UPDATE|TRUNCATE\s+TABLE)"),
        ("drop", r"DROP\s+(?:TABLE|VIEW)(?:\s+IF\s+EXISTS)?"),
        ("alter", r"ALTER\s+TABLE(?:\s+IF\s+EXISTS)?"),
    ]
]  # fmt: skip


@dataclass(frozen=True, order=True)
class Resource:
    """A resource an IAM policy can sit on, named as infra names it."""

    level: str  # project | dataset | table | service | workflow
    name: str  # "" for the project; `mart`; `mart.daily_sales`; a service or workflow name

    def get_ancestors(self) -> tuple[Resource, ...]:
        """This resource and every resource whose policy it inherits, nearest first."""
        if self.level == "project":
            return (self,)
        if self.level == "table":
            return (self, Resource("dataset", self.name.split(".")[0]), PROJECT)
        return (self, PROJECT)

    def __str__(self) -> str:
        return "project" if self.level == "project" else f"{self.level} {self.name}"


PROJECT = Resource("project", "")


@dataclass(frozen=True, order=True)
class Need:
    """One permission one workload needs on one resource, for one API method."""

    workload: str
    method: str
    permission: str
    resource: Resource
    source: str
    detail: str = ""

    def describe(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.method}{extra} needs {self.permission} on {self.resource}"


@dataclass(frozen=True)
class Unmapped:
    """A recorded call this module does not know: the test fails until it is mapped."""

    workload: str
    verb: str
    path: str


@dataclass(frozen=True)
class JobCall:
    """A BigQuery job call, for the location check (issue 9 item 13)."""

    workload: str
    method: str
    job_id: str
    location: str | None


def get_workload(call: HttpCall) -> str:
    """The workload that made the call: its port's identity, or dbt/Dataform by User-Agent."""
    if call.identity == JOB_RUNNER:
        for marker, workload in _USER_AGENTS.items():
            if marker in call.user_agent:
                return workload
    return call.identity


def route(call: HttpCall) -> tuple[str, dict[str, str]] | None:
    """The BigQuery method and path parameters of a call, or None if it is not BigQuery."""
    if not call.path.startswith(_PREFIX):
        return None
    rest = call.path[len(_PREFIX) :]
    for verb, pattern, method in _ROUTES:
        match = pattern.fullmatch(rest)
        if verb == call.verb and match:
            return method, match.groupdict()
    return "", {}


@dataclass
class Analysis:
    """Everything the calls need, plus what could not be mapped and every job call."""

    needs: set[Need]
    unmapped: list[Unmapped]
    job_calls: list[JobCall]


def analyse(
    calls: Iterable[HttpCall],
    *,
    logical: Callable[[str], str],
    datasets: set[str],
    identity_of: Mapping[str, str],
    service_of: Callable[[HttpCall], str],
    intended_of: Mapping[str, str] | None = None,
) -> Analysis:
    """Map calls to needs.

    Args:
        calls: the recorded calls.
        logical: physical dataset id -> logical name (the environment prefix removed).
        datasets: physical ids of the datasets that exist (to tell tables from aliases in SQL).
        identity_of: workload -> the account it acts as (to tell whose jobs are whose).
        intended_of: workload -> the account infra intends it to act as; a job read by another
            account than its creator under either mapping needs `bigquery.jobs.get`.
        service_of: an HTTP call to a Cloud Run service -> that service's name.
    """
    calls = list(calls)
    result = Analysis(set(), [], [])
    mappings = [identity_of, intended_of or identity_of]
    creators: dict[str, str] = {}  # job id -> the workload that created it
    for call in calls:
        job_id = _created_job_id(call)
        if job_id:
            creators[job_id] = get_workload(call)
    for call in calls:
        workload = get_workload(call)
        if call.verb in ("CONNECTOR", "RPC"):
            rule = METHODS[call.path]
            target = Resource("workflow", call.query["workflow"])
            result.needs.add(Need(workload, call.path, rule.permission or "", target, rule.source))
            continue
        routed = route(call)
        if routed is None:  # an HTTP call to a Cloud Run service (the workflows' calls)
            rule = METHODS["run.routes.invoke"]
            target = Resource("service", service_of(call))
            detail = f"{call.verb} {call.path}"
            result.needs.add(
                Need(
                    workload, "run.routes.invoke", "run.routes.invoke", target, rule.source, detail
                )
            )
            continue
        method, params = routed
        if not method:
            result.unmapped.append(Unmapped(workload, call.verb, call.path))
            continue
        result.needs |= _bigquery_needs(call, workload, method, params, logical, datasets)
        if method in _JOB_METHODS:
            job = params["job"]
            result.job_calls.append(JobCall(workload, method, job, call.query.get("location")))
            creator = creators.get(job)
            for mapping in mappings:
                owner = mapping.get(creator or workload, creator or workload)
                if owner != mapping.get(workload, workload):
                    result.needs.add(
                        Need(
                            workload, method, str(JOB_OF_OTHERS.permission), PROJECT,
                            JOB_OF_OTHERS.source, f"a job of {creator} run as {owner}",
                        )
                    )  # fmt: skip
        elif method in ("bigquery.jobs.insert", "bigquery.jobs.query"):
            body = call.body or {}
            ref = body.get("jobReference") or {}
            location = ref.get("location") or body.get("location")
            result.job_calls.append(JobCall(workload, method, ref.get("jobId", ""), location))
    return result


def _created_job_id(call: HttpCall) -> str | None:
    if call.verb != "POST" or not call.path.endswith(("/jobs", "/queries")):
        return None
    for source in (call.response, call.body):
        if isinstance(source, dict):
            job_id = (source.get("jobReference") or {}).get("jobId")
            if job_id:
                return str(job_id)
    return None


def _bigquery_needs(
    call: HttpCall,
    workload: str,
    method: str,
    params: dict[str, str],
    logical: Callable[[str], str],
    datasets: set[str],
) -> set[Need]:
    rule = METHODS[method]
    dataset = params.get("d")
    if dataset is None and method == "bigquery.datasets.insert":
        dataset = ((call.body or {}).get("datasetReference") or {}).get("datasetId")
    # Anonymous datasets (`_...`) hold the caller's own query results: only the user who ran
    # the query can read them, and needs nothing more.
    # https://cloud.google.com/bigquery/docs/cached-results
    if dataset is not None and dataset.startswith("_"):
        return set()
    needs: set[Need] = set()
    if rule.permission is not None:
        if rule.level == "project":
            resource = PROJECT
        elif rule.level == "dataset":
            resource = Resource("dataset", logical(str(dataset)))
        else:
            resource = Resource("table", f"{logical(str(dataset))}.{params['t']}")
        detail = f"dataset {logical(str(dataset))}" if method == "bigquery.datasets.insert" else ""
        needs.add(Need(workload, method, rule.permission, resource, rule.source, detail))
    if method in ("bigquery.jobs.insert", "bigquery.jobs.query"):
        needs |= _query_needs(call.body or {}, workload, method, logical, datasets)
    return needs


def _query_needs(
    body: dict[str, Any],
    workload: str,
    method: str,
    logical: Callable[[str], str],
    datasets: set[str],
) -> set[Need]:
    query = body.get("query") or ((body.get("configuration") or {}).get("query") or {})
    sql = query if isinstance(query, str) else query.get("query")
    if not sql:
        return set()
    sql = _COMMENTS.sub(" ", sql)
    needs: set[Need] = set()
    for match in _SCHEMA.finditer(sql):
        detail = f"CREATE SCHEMA {logical(match[1])}"
        needs.add(Need(workload, method, "bigquery.datasets.create", PROJECT, SQL_SOURCE, detail))
    sql = _SCHEMA.sub(" ", sql)
    for match in _REF.finditer(sql):
        dataset, table = match[1], match[2]
        if dataset not in datasets or table.upper() == "INFORMATION_SCHEMA":
            continue
        before = sql[max(0, match.start() - 80) : match.start()]
        kind = next((k for k, pattern in _ACTIONS if pattern.search(before)), "read")
        resource = Resource("table", f"{logical(dataset)}.{table}")
        for permission in SQL_PERMISSIONS[kind]:
            needs.add(Need(workload, method, permission, resource, SQL_SOURCE, f"SQL {kind}"))
    destination = (query if isinstance(query, dict) else {}).get("destinationTable")
    if destination and not str(destination.get("datasetId", "_")).startswith("_"):
        resource = Resource(
            "table", f"{logical(destination['datasetId'])}.{destination['tableId']}"
        )
        needs.add(
            Need(
                workload, method, "bigquery.tables.updateData", resource, SQL_SOURCE, "destination"
            )
        )
    return needs
