"""What a spec asks of the warehouse: its datasets, the tables infra owns, and who may touch what.

Pure functions over the spec (no Pulumi), so the access plan can be read and tested on its own.
Destination tables of `bigquery_sql` jobs are not here, unless exposed: the job-runner creates
them on first run (`CREATE TABLE IF NOT EXISTS ... AS SELECT ... WHERE FALSE`); infra creates
their datasets only.
"""

from __future__ import annotations

from typing import Literal

from dayflow.semantic import get_semantic_table
from dayflow.spec import (
    BigQuerySqlJob,
    CloudRunJob,
    DataformJob,
    DbtJob,
    DedupJob,
    ManagedDataform,
    Spec,
)
from dayflow.spec import get_datasets as spec_datasets
from dayflow.spec_datasets import get_sql_datasets
from dayflow.spec_domains import get_consumed_ref, get_exposed_tables
from dayflow.tables import DEAD_LETTER, LEDGER, TableDef, get_ingest_table

Workload = Literal["job_runner", "ingest", "dbt", "dataform"]

DATA_EDITOR = "roles/bigquery.dataEditor"
DATA_VIEWER = "roles/bigquery.dataViewer"


def get_owned_tables(spec: Spec) -> tuple[TableDef, ...]:
    """The run ledger, each topic's ingest table, the dead-letter table, semantic tables, then
    exposed tables.

    Semantic tables come from `dayflow.semantic`, the same definition the dedup job writes.
    Exposed tables (data products) are created from their declared columns, so their
    descriptions and owner reach the catalog; the job-runner then finds them and writes into
    them (it creates only the other destinations of `bigquery_sql` jobs).
    """
    tables = [LEDGER]
    tables += [get_ingest_table(name, t.ingest_dataset) for name, t in spec.topics.items()]
    if spec.topics:
        tables.append(DEAD_LETTER)
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, DedupJob):
                tables.append(get_semantic_table(job.topic, spec.topics[job.topic], job))
    tables += get_exposed_tables(spec)
    unique = {(t.dataset, t.table): t for t in tables}
    return tuple(unique.values())


def get_written_datasets(spec: Spec) -> dict[Workload, tuple[str, ...]]:
    """Logical datasets each workload writes. Workloads absent from the spec are absent here.

    dbt and Dataform write what their jobs declare (`writes`, `DbtJob.dataset` by default):
    their projects decide where models land, and the spec states it so infra can grant it.
    """
    job_runner = [LEDGER.dataset]
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, BigQuerySqlJob | DedupJob):
                job_runner.append(job.destination.dataset)
    written: dict[Workload, tuple[str, ...]] = {"job_runner": tuple(dict.fromkeys(job_runner))}
    if spec.topics:
        ingest = [t.ingest_dataset for t in spec.topics.values()] + [DEAD_LETTER.dataset]
        written["ingest"] = tuple(dict.fromkeys(ingest))
    jobs = [j for p in spec.pipelines.values() for j in p.jobs.values()]
    dbt = [d for j in jobs if isinstance(j, DbtJob) for d in j.get_written_datasets()]
    dataform = [d for j in jobs if isinstance(j, DataformJob) for d in j.get_written_datasets()]
    if has_job_kind(spec, DbtJob):
        written["dbt"] = tuple(dict.fromkeys(dbt))
    if has_job_kind(spec, DataformJob):
        written["dataform"] = tuple(dict.fromkeys(dataform))
    return written


def has_job_kind(spec: Spec, kind: type[DbtJob] | type[DataformJob]) -> bool:
    return any(isinstance(j, kind) for p in spec.pipelines.values() for j in p.jobs.values())


def get_managed_dataform(spec: Spec) -> tuple[ManagedDataform, ...]:
    """Managed Dataform repositories this stack creates, one per id (the first job's branch wins).

    A repository given by full name (`projects/P/locations/L/repositories/R`) lives elsewhere
    and is left alone: its owner grants the job-runner `roles/dataform.editor` on it.
    """
    repos: dict[str, ManagedDataform] = {}
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if (
                isinstance(job, DataformJob)
                and job.managed is not None
                and not job.managed.repository.startswith("projects/")
            ):
                repos.setdefault(job.managed.repository, job.managed)
    return tuple(repos.values())


def get_datasets(spec: Spec) -> tuple[str, ...]:
    """Every logical dataset of the spec, in a stable order (ledger first)."""
    names = [d for ds in get_written_datasets(spec).values() for d in ds]
    names += [t.dataset for t in get_owned_tables(spec)]
    # Datasets that only a service writes (an http job's destination): created here too, and
    # read by the job-runner for checksums (get_dataset_roles).
    names += spec_datasets(spec)
    # cloud_run_job destinations: their own accounts write them (infra.components.cloud_run_jobs).
    names += [
        d
        for p in spec.pipelines.values()
        for j in p.jobs.values()
        if isinstance(j, CloudRunJob)
        for d in j.get_written_datasets()
    ]
    return tuple(dict.fromkeys(names))


def get_source_datasets(spec: Spec) -> dict[Workload, tuple[str, ...]]:
    """Declared source datasets (`sources`) each workload reads; infra never creates them.

    The job-runner reads every source (its SQL jobs may name any); dbt and Dataform read the
    sources their jobs list in `reads`.
    """
    reads: dict[Workload, tuple[str, ...]] = {}
    if spec.sources:
        reads["job_runner"] = tuple(spec.sources)
    for workload, kind in (("dbt", DbtJob), ("dataform", DataformJob)):
        named = [d for d in _get_reads(spec, kind) if d in spec.sources]
        if named:
            reads[workload] = tuple(dict.fromkeys(named))  # type: ignore[index]
    return reads


def _get_reads(
    spec: Spec, kind: type[DbtJob] | type[DataformJob], consumed: bool = False
) -> list[str]:
    """Every dataset the jobs of `kind` declare in `reads` (or, with `consumed`, every consumed
    table: `domain.dataset.table`)."""
    return [
        d
        for p in spec.pipelines.values()
        for j in p.jobs.values()
        if isinstance(j, DbtJob | DataformJob) and isinstance(j, kind)
        for d in j.reads
        if ("." in d) == consumed
    ]


def _transform_reads(spec: Spec, kind: type[DbtJob] | type[DataformJob]) -> list[str]:
    return [d for d in _get_reads(spec, kind) if d not in spec.sources]


def get_dataset_roles(spec: Spec) -> dict[Workload, dict[str, str]]:
    """Least-privilege roles on dayflow's datasets: dataEditor where a workload writes, and
    dataViewer where it reads.

    The ingest function only writes its own datasets and reads nothing. The job-runner reads
    the datasets of its own jobs (ledger, destinations, ingest for dedup) and those that dbt or
    Dataform write only if a SQL job names them (`{{ dataset:NAME }}`). dbt and Dataform
    read what their jobs declare in `reads` (their projects decide it, the spec states it) and
    write what they declare in `writes`; nothing else, so the ledger and the ingest tables stay
    out of their reach unless a job names them. Source datasets: `get_source_datasets`.
    """
    datasets = get_datasets(spec)
    written = get_written_datasets(spec)
    own = set(spec_datasets(spec)) | set(get_sql_datasets(spec))
    readable: dict[Workload, list[str]] = {
        "job_runner": [d for d in datasets if d in own],
        "ingest": [],
        "dbt": _transform_reads(spec, DbtJob),
        "dataform": _transform_reads(spec, DataformJob),
    }
    roles: dict[Workload, dict[str, str]] = {}
    for workload, writes in written.items():
        reads = [d for d in datasets if d in readable[workload] and d not in writes]
        roles[workload] = {d: DATA_VIEWER for d in reads}
        roles[workload].update({d: DATA_EDITOR for d in writes})
    return roles


def get_team_grants(spec: Spec) -> dict[str, str]:
    """The team group's role on each of the domain's own datasets: read, dataset by dataset."""
    if spec.team_group is None:
        return {}
    return {dataset: DATA_VIEWER for dataset in get_datasets(spec)}


def get_consumed_tables(spec: Spec, env: str) -> dict[str, tuple[str, str, str]]:
    """Each consumed table's (project, dataset id, table) in environment `env`."""
    return {key: get_consumed_ref(spec, key, env) for key in spec.consumes}


def get_consumed_reads(spec: Spec) -> dict[Workload, tuple[str, ...]]:
    """The consumed tables each workload reads: the job-runner every one (its SQL jobs name
    them as `{{ consumes:... }}`); dbt and Dataform those their jobs list in `reads`."""
    reads: dict[Workload, tuple[str, ...]] = {}
    if spec.consumes:
        reads["job_runner"] = tuple(spec.consumes)
    for workload, kind in (("dbt", DbtJob), ("dataform", DataformJob)):
        named = _get_reads(spec, kind, consumed=True)
        if named:
            reads[workload] = tuple(dict.fromkeys(named))  # type: ignore[index]
    return reads
