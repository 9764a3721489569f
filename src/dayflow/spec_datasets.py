"""Which datasets a spec's jobs create, name and read, and the checks across them.

Logical names (`mart`); each environment's physical id adds its `dataset_prefix`. Declared
`sources` are read under their own name and are never dayflow's to create.
"""

from __future__ import annotations

import re

from dayflow.spec import BigQuerySqlJob, CloudRunJob, DataformJob, DbtJob, Spec, get_datasets

# How a `bigquery_sql` job's SQL names a dataset dayflow manages (BigQuerySqlJob's docstring).
DATASET_PLACEHOLDER = re.compile(r"\{\{\s*dataset:([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def get_sql_datasets(spec: Spec) -> list[str]:
    """Logical datasets the `bigquery_sql` jobs' SQL files name as `{{ dataset:NAME }}`."""
    names: set[str] = set()
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, BigQuerySqlJob):
                path = spec.root / job.sql
                if path.is_file():  # a missing file is reported by check_spec
                    names.update(DATASET_PLACEHOLDER.findall(path.read_text()))
    return sorted(names)


def get_all_datasets(spec: Spec) -> list[str]:
    """Every logical dataset dayflow creates: `get_datasets` plus what dbt/Dataform jobs write."""
    names = set(get_datasets(spec))
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            if isinstance(job, DbtJob | DataformJob):
                names.update(job.get_written_datasets())
    return sorted(names)


def check_datasets(spec: Spec) -> list[str]:
    """Sources are not dayflow's datasets; a transform reads only datasets the spec knows."""
    problems: list[str] = []
    owned = get_all_datasets(spec)
    for name in sorted(set(spec.sources) & set(owned)):
        problems.append(
            f"sources.{name}: dataset {name!r} is also written by dayflow "
            "(expected a source to be a dataset that dayflow only reads)"
        )
    known = sorted({*owned, *spec.sources})
    for name, pipeline in spec.pipelines.items():
        for job_name, job in pipeline.jobs.items():
            if not isinstance(job, DbtJob | DataformJob | CloudRunJob):
                continue
            for dataset in job.reads:
                if "." in dataset:  # a consumed table
                    if dataset not in spec.consumes:
                        problems.append(
                            f"pipelines.{name}.jobs.{job_name}.reads: unknown consumed table "
                            f"{dataset!r} (expected one of consumes: "
                            f"{', '.join(spec.consumes) or 'none declared'})"
                        )
                elif dataset not in known:
                    problems.append(
                        f"pipelines.{name}.jobs.{job_name}.reads: unknown dataset {dataset!r} "
                        f"(expected a dataset of the spec or a declared source: {', '.join(known)})"
                    )
    return problems
