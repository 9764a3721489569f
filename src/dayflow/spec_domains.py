"""Many domains on one platform: what a domain exposes, what it consumes, and its team group.

A domain is one dayflow project (one spec, one Pulumi stack); its name is the spec's `name`.

- `exposes` declares the domain's data products: `dataset.table` keys naming the destination of
  one of its `bigquery_sql` or `dedup` jobs, each with an owner, a description and the columns
  that are its contract (names and types; `required`; `deprecated: YYYY-MM-DD` before a
  removal). Infra (and `dayflow local up`) create the table from these columns, with their
  descriptions and an `owner` label. Where the columns are checked: a dedup job's table is
  defined by its topic, so the spec refuses a contract that differs from it at load time; a
  `bigquery_sql` job's SELECT is known only when it runs, so before each write the job-runner
  dry-runs it and refuses the run unless it returns exactly the declared columns with the
  declared types (`dayflow.contracts.check_select_schema`).
- `consumes` declares the other domains' exposed tables this domain reads, keyed
  `<domain>.<dataset>.<table>`: the producer's domain name plus the key of its `exposes`, since
  a table name alone is unique only within its dataset. Each says where the producer's table
  lives in each environment and carries a copy of its columns, so the consumer builds and tests
  alone: locally the table is created in the consumer's own emulator from these columns (and
  `dayflow seed` can fill it from `seed`). SQL names it as `{{ consumes:a.mart.daily_sales }}`,
  which the job-runner renders as the environment's `project.dataset.table`.
- `team_group`: the domain team's Google group; infra grants it read on the domain's own
  datasets (dataset-level), nothing else.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dayflow.spec_sources import ColumnType, Name, SeedFile
from dayflow.tables import Column, TableDef

if TYPE_CHECKING:
    from dayflow.spec import BigQuerySqlJob, DedupJob, Spec

# BigQuery's aliases of one type (https://cloud.google.com/bigquery/docs/reference/standard-sql/
# data-types): a contract compares canonical names, so INTEGER and INT64 are the same type.
CANONICAL_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}

Email = Annotated[str, Field(pattern=r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")]
# `dataset.table` of this domain; `<domain>.<dataset>.<table>` of another domain.
ExposedKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")]
ConsumedKey = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
]
# How SQL names a consumed table (rendered per environment by the job-runner).
CONSUMES_PLACEHOLDER = re.compile(r"\{\{\s*consumes:([A-Za-z0-9_.]+)\s*\}\}")


def get_canonical_type(value: str) -> str:
    """`INTEGER` -> `INT64`, `FLOAT` -> `FLOAT64`, `BOOLEAN` -> `BOOL`; others unchanged."""
    return CANONICAL_TYPES.get(value.upper(), value.upper())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContractColumn(_Model):
    """One column of a data product: its BigQuery type is the contract."""

    type: Annotated[ColumnType, AfterValidator(get_canonical_type)]
    description: str = ""
    # REQUIRED in BigQuery: readers may rely on it never being null.
    required: bool = False
    # The date from which the column may be removed (expand and contract): readers move off it.
    deprecated: date | None = None


Columns = Annotated[dict[Name, ContractColumn], Field(min_length=1)]
_NOT_A_DATE = ContractColumn(type="STRING")


class ExposedTable(_Model):
    """A data product of this domain: a table one of its jobs writes."""

    owner: Email
    description: str = Field(min_length=1)
    columns: Columns


class ProducerLocation(_Model):
    """Where the producer's table lives in one environment (the producer's spec says it)."""

    gcp_project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    dataset_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$")


class ConsumedTable(_Model):
    """Another domain's exposed table that this domain reads, with a copy of its columns."""

    # dev and prod: the producer's project and dataset prefix there. Locally the table is a
    # copy in this domain's own emulator (`get_consumed_ref`).
    environments: dict[Literal["dev", "prod"], ProducerLocation] = Field(default_factory=dict)
    columns: Columns
    description: str = ""
    # The producer's partitioning, so that the local copy refuses a query without a partition
    # filter as BigQuery refuses it on the producer's table.
    partition_field: Name | None = None
    require_partition_filter: bool = False
    # Sample rows (CSV or JSONL next to the spec) that `dayflow seed` loads into the local copy.
    seed: SeedFile | None = None


def split_consumed_key(key: str) -> tuple[str, str, str]:
    """`a.mart.daily_sales` -> (`a`, `mart`, `daily_sales`)."""
    domain, dataset, table = key.split(".")
    return domain, dataset, table


def get_local_dataset(domain: str, dataset: str) -> str:
    """The logical dataset that holds a consumed table's local copy: `<domain>__<dataset>`."""
    return f"{domain}__{dataset}"


def get_consumed_ref(spec: Spec, key: str, env: str) -> tuple[str, str, str]:
    """(project, dataset id, table) of consumed table `key` in environment `env`.

    In dev and prod: the producer's project and its prefixed dataset. Locally: a copy in this
    domain's own project, dataset `<prefix><domain>__<dataset>` (so it never meets a dataset of
    the domain itself, and tests with their own prefix stay apart).
    """
    domain, dataset, table = split_consumed_key(key)
    consumed = spec.consumes[key]
    if env == "local":
        local = spec.get_environment("local")
        return local.gcp_project, local.get_dataset_id(get_local_dataset(domain, dataset)), table
    where = consumed.environments.get(env)  # type: ignore[call-overload]
    if where is None:
        from dayflow.errors import SpecError

        raise SpecError(f"consumes.{key}.environments: no location for env {env!r}")
    return where.gcp_project, f"{where.dataset_prefix}{dataset}", table


def get_owner_label(owner: str) -> str:
    """The `owner` label value of an email: label values allow only lowercase letters, digits,
    `_` and `-`, at most 63 characters (https://cloud.google.com/bigquery/docs/labels-intro)."""
    return re.sub(r"[^a-z0-9_-]", "_", owner.lower())[:63]


def _get_columns(columns: dict[str, ContractColumn]) -> tuple[Column, ...]:
    return tuple(
        Column(
            name,
            c.type,  # type: ignore[arg-type]  # a canonical BigQuery type name
            "REQUIRED" if c.required else "NULLABLE",
            c.description + (f" (deprecated from {c.deprecated})" if c.deprecated else ""),
        )
        for name, c in columns.items()
    )


def get_exposed_jobs(spec: Spec) -> dict[str, BigQuerySqlJob | DedupJob]:
    """The job writing each `dataset.table` of the spec that can be exposed: destinations of
    `bigquery_sql` and `dedup` jobs."""
    from dayflow.spec import BigQuerySqlJob, DedupJob

    return {
        f"{job.destination.dataset}.{job.destination.table}": job
        for pipeline in spec.pipelines.values()
        for job in pipeline.jobs.values()
        if isinstance(job, BigQuerySqlJob | DedupJob)
    }


def get_exposed_tables(spec: Spec) -> tuple[TableDef, ...]:
    """Each exposed table as infra and the local stack create it: the declared columns and
    descriptions, the job destination's partitioning and clustering (a semantic table's own
    definition for a dedup job), an `owner` label."""
    from dayflow.spec import DedupJob

    jobs = get_exposed_jobs(spec)
    tables = []
    for key, exposed in spec.exposes.items():
        job = jobs[key]  # check_domains guarantees it
        dest = job.destination
        declared = _get_columns(exposed.columns)
        if isinstance(job, DedupJob):
            descriptions = {c.name: c.description for c in declared}
            table = _get_semantic_table(spec, job)
            columns = tuple(c._replace(description=descriptions[c.name]) for c in table.columns)
            table = table._replace(columns=columns)
        else:
            table = TableDef(
                dataset=dest.dataset,
                table=dest.table,
                columns=declared,
                partition_field=dest.partition_field,
                clustering=tuple(dest.clustering),
                require_partition_filter=dest.require_partition_filter,
            )
        tables.append(
            table._replace(
                description=f"{exposed.description} (owner: {exposed.owner})",
                labels=(("owner", get_owner_label(exposed.owner)),),
            )
        )
    return tuple(tables)


def _get_semantic_table(spec: Spec, job: DedupJob) -> TableDef:
    from dayflow.semantic import get_semantic_table

    return get_semantic_table(job.topic, spec.topics[job.topic], job)


def _check_semantic_columns(key: str, spec: Spec, job: DedupJob) -> list[str]:
    """A dedup job's table is defined by its topic: the contract must declare exactly it."""
    from dayflow.errors import SpecError

    try:
        table = _get_semantic_table(spec, job)
    except SpecError:
        return []  # reported by the dedup job's own checks
    declared = spec.exposes[key].columns
    actual = {c.name: c for c in table.columns}
    problems = []
    for name, column in declared.items():
        got = actual.get(name)
        if got is None:
            problems.append(f"{name!r} is not a column of the semantic table")
        elif get_canonical_type(got.type) != column.type:
            problems.append(f"{name!r} is {got.type} in the semantic table, not {column.type}")
        elif (got.mode == "REQUIRED") != column.required:
            problems.append(f"{name!r} has required: {got.mode == 'REQUIRED'} there")
    missing = [name for name in actual if name not in declared]
    if missing:
        problems.append(f"undeclared column(s) {', '.join(map(repr, missing))}")
    return [
        f"exposes.{key}.columns: {p} (expected the columns of the semantic table of topic "
        f"{job.topic!r}: {', '.join(actual)})"
        for p in problems
    ]


def get_local_copies(spec: Spec) -> tuple[TableDef, ...]:
    """The local copies of consumed tables, by logical dataset `<domain>__<dataset>`, DAY
    partitioned as declared (`partition_field`, `require_partition_filter`) or not at all."""
    tables = []
    for key, consumed in spec.consumes.items():
        domain, dataset, table = split_consumed_key(key)
        tables.append(
            TableDef(
                dataset=get_local_dataset(domain, dataset),
                table=table,
                columns=_get_columns(consumed.columns),
                partition_field=consumed.partition_field or "",
                require_partition_filter=consumed.require_partition_filter,
                description=consumed.description or f"local copy of {key}",
            )
        )
    return tuple(tables)


def get_sql_consumes(spec: Spec) -> dict[str, set[str]]:
    """Consumed tables each `bigquery_sql` job's SQL names, by `pipeline.job`."""
    from dayflow.spec import BigQuerySqlJob

    named: dict[str, set[str]] = {}
    for name, pipeline in spec.pipelines.items():
        for job_name, job in pipeline.jobs.items():
            path = spec.root / job.sql if isinstance(job, BigQuerySqlJob) else None
            if path is not None and path.is_file():  # a missing file is reported by check_spec
                named[f"{name}.{job_name}"] = set(CONSUMES_PLACEHOLDER.findall(path.read_text()))
    return named


def check_domains(spec: Spec) -> list[str]:
    """Exposed tables are written by a job; consumed tables are another domain's, located in
    every environment, and named by SQL only when declared. Returns problem lines."""
    from dayflow.spec import DedupJob

    problems: list[str] = []
    jobs = get_exposed_jobs(spec)
    for key, exposed in spec.exposes.items():
        job = jobs.get(key)
        if job is None:
            problems.append(
                f"exposes.{key}: no job writes {key} (expected the destination of a "
                f"bigquery_sql or dedup job: {', '.join(jobs) or 'none in this spec'})"
            )
            continue
        if isinstance(job, DedupJob):
            problems += _check_semantic_columns(key, spec, job)
            continue
        dest = job.destination
        for field in dict.fromkeys([dest.partition_field, *dest.clustering]):
            if field not in exposed.columns:
                problems.append(
                    f"exposes.{key}.columns: partitioning or clustering column {field!r} is not "
                    "declared (expected every column the table is partitioned or clustered by)"
                )
    environments = sorted(e for e in spec.environments if e != "local")
    own = {d for d in _get_own_datasets(spec)}
    for key, consumed in spec.consumes.items():
        domain, dataset, _ = split_consumed_key(key)
        if domain == spec.name:
            problems.append(
                f"consumes.{key}: domain {domain!r} is this spec's own name "
                "(expected another domain's table; read your own tables directly)"
            )
        missing = [e for e in environments if e not in consumed.environments]
        if missing:
            problems.append(
                f"consumes.{key}.environments: no location for {', '.join(missing)} "
                "(expected the producer's gcp_project and dataset_prefix in each environment)"
            )
        if get_local_dataset(domain, dataset) in own:
            problems.append(
                f"consumes.{key}: the local copy's dataset {get_local_dataset(domain, dataset)!r} "
                "is also a dataset of this spec (expected other dataset names)"
            )
        partition = consumed.partition_field
        if partition is not None and consumed.columns.get(partition, _NOT_A_DATE).type not in (
            "DATE",
            "TIMESTAMP",
        ):
            problems.append(
                f"consumes.{key}.partition_field: {partition!r} is not a DATE or TIMESTAMP column "
                "of the copy (expected the producer's partition column, declared in columns)"
            )
        if consumed.require_partition_filter and partition is None:
            problems.append(
                f"consumes.{key}.require_partition_filter: no partition_field "
                "(expected the producer's partition column)"
            )
        if consumed.seed is not None and not (spec.root / consumed.seed).is_file():
            problems.append(f"consumes.{key}.seed: file {consumed.seed!r} not found")
    for where, keys in get_sql_consumes(spec).items():
        for key in sorted(keys - set(spec.consumes)):
            problems.append(
                f"pipelines.{where.replace('.', '.jobs.', 1)}.sql: names {{{{ consumes:{key} }}}} "
                f"which is not declared (expected one of consumes: "
                f"{', '.join(spec.consumes) or 'none declared'})"
            )
    return problems


def _get_own_datasets(spec: Spec) -> list[str]:
    from dayflow.spec_datasets import get_all_datasets

    return [*get_all_datasets(spec), *spec.sources]
