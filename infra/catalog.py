"""What a spec asks of the warehouse: its datasets, the tables infra owns, and who may touch what.

Pure functions over the spec (no Pulumi), so the access plan can be read and tested on its own.
Destination tables of `bigquery_sql` jobs are not here: the job-runner creates them on first run
(`CREATE TABLE IF NOT EXISTS ... AS SELECT ... WHERE FALSE`); infra creates their datasets only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dayflow.spec import (
    BigQuerySqlJob,
    DataformJob,
    DbtJob,
    DedupJob,
    ManagedDataform,
    Pipeline,
    Spec,
    Topic,
)
from dayflow.tables import (
    DEAD_LETTER,
    LEDGER,
    TOPIC_FIELD_TYPES,
    Column,
    TableDef,
    get_ingest_table,
)

Partitioning = Literal["DAY", "HOUR"]
Workload = Literal["job_runner", "ingest", "dbt", "dataform"]

DATA_EDITOR = "roles/bigquery.dataEditor"
DATA_VIEWER = "roles/bigquery.dataViewer"


@dataclass(frozen=True)
class OwnedTable:
    """A table infra creates: its schema and the granularity of its time partitions."""

    table: TableDef
    partitioning: Partitioning = "DAY"


def get_owned_tables(spec: Spec) -> tuple[OwnedTable, ...]:
    """The run ledger, each topic's ingest table, the dead-letter table, then semantic tables."""
    tables = [OwnedTable(LEDGER)]
    tables += [
        OwnedTable(get_ingest_table(name, t.ingest_dataset)) for name, t in spec.topics.items()
    ]
    if spec.topics:
        tables.append(OwnedTable(DEAD_LETTER))
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, DedupJob):
                tables.append(get_semantic_table(job, spec.topics[job.topic], pipeline))
    unique = {(t.table.dataset, t.table.table): t for t in tables}
    return tuple(unique.values())


def get_semantic_table(job: DedupJob, topic: Topic, pipeline: Pipeline) -> OwnedTable:
    """The deduplicated table a `dedup` job writes: the topic's fields, typed for BigQuery.

    TODO(semantic): replace with the `TableDef` of `dayflow.semantic` once it exposes one, so
    the job and infra cannot disagree on lineage or history columns.
    """
    dest = job.destination
    columns = [
        Column(name, TOPIC_FIELD_TYPES[f.type], "REQUIRED" if f.required else "NULLABLE")
        for name, f in topic.fields.items()
    ]
    if job.history:
        columns += [
            Column("valid_from", "TIMESTAMP", "REQUIRED", "first event time of this version"),
            Column(
                "valid_to", "TIMESTAMP", description="next version's valid_from; NULL if current"
            ),
            Column("is_current", "BOOL", "REQUIRED"),
        ]
    if dest.partition_field not in {c.name for c in columns}:
        columns.append(Column(dest.partition_field, dest.partition_type, "REQUIRED"))
    table = TableDef(
        dataset=dest.dataset,
        table=dest.table,
        columns=tuple(columns),
        partition_field=dest.partition_field,
        clustering=tuple(dest.clustering or topic.key[:4]),
        require_partition_filter=dest.require_partition_filter,
        description=f"deduplicated {'history' if job.history else 'state'} of topic {job.topic}",
    )
    return OwnedTable(table, "HOUR" if pipeline.granularity == "hour" else "DAY")


def get_written_datasets(spec: Spec) -> dict[Workload, tuple[str, ...]]:
    """Logical datasets each workload writes. Workloads absent from the spec are absent here."""
    job_runner = [LEDGER.dataset]
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, BigQuerySqlJob | DedupJob):
                job_runner.append(job.destination.dataset)
    written: dict[Workload, tuple[str, ...]] = {"job_runner": tuple(dict.fromkeys(job_runner))}
    if spec.topics:
        ingest = [t.ingest_dataset for t in spec.topics.values()] + [DEAD_LETTER.dataset]
        written["ingest"] = tuple(dict.fromkeys(ingest))
    return written


def has_job_kind(spec: Spec, kind: type[DbtJob] | type[DataformJob]) -> bool:
    return any(isinstance(j, kind) for p in spec.pipelines.values() for j in p.jobs.values())


def get_managed_dataform(spec: Spec) -> tuple[ManagedDataform, ...]:
    """Managed Dataform repositories of the spec, one per name (the first job's branch wins)."""
    repos: dict[str, ManagedDataform] = {}
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, DataformJob) and job.managed is not None:
                repos.setdefault(job.managed.repository, job.managed)
    return tuple(repos.values())


def get_datasets(spec: Spec, transform_datasets: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every logical dataset of the spec, in a stable order (ledger first)."""
    names = [d for ds in get_written_datasets(spec).values() for d in ds]
    names += [t.table.dataset for t in get_owned_tables(spec)]
    return tuple(dict.fromkeys([*names, *transform_datasets]))


def get_dataset_roles(
    spec: Spec, transform_datasets: tuple[str, ...] = ()
) -> dict[Workload, dict[str, str]]:
    """Least-privilege dataset roles: dataEditor where a workload writes, dataViewer elsewhere.

    The ingest function only writes its own datasets and reads nothing. The job-runner, dbt and
    Dataform read their sources anywhere in the spec's datasets, so they get dataViewer on the
    rest. dbt and Dataform write the datasets named by the `transformDatasets` config, since
    their projects, not the spec, decide where models land.
    """
    datasets = get_datasets(spec, transform_datasets)
    written = get_written_datasets(spec)
    if has_job_kind(spec, DbtJob):
        written["dbt"] = transform_datasets
    if has_job_kind(spec, DataformJob):
        written["dataform"] = transform_datasets
    roles: dict[Workload, dict[str, str]] = {}
    for workload, writes in written.items():
        readable = () if workload == "ingest" else datasets
        roles[workload] = {d: DATA_EDITOR if d in writes else DATA_VIEWER for d in readable}
        roles[workload].update({d: DATA_EDITOR for d in writes})
    return roles
