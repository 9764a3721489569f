"""Dependencies across pipelines: a job's `depends_on` entries that name a job of another
pipeline, with a partition mapping (`dayflow.partition_mapping`).

```yaml
depends_on:
  - clean                                      # a job of this pipeline
  - {pipeline: meter_hourly, job: readings}    # mapping inferred: hours_of_day
  - {pipeline: meter_daily, job: rollup, mapping: window, window: 7}
```

`check_pipeline_dependencies` is part of `dayflow validate`. It refuses an unknown pipeline or
job, the job's own pipeline (name its jobs plainly), a pipeline of a consumed domain (its run
ledger lives in the producer's project: not supported in this release), pipelines in different
timezones, mappings between incompatible granularities, and cycles through (pipeline, job).
"""

from __future__ import annotations

from dataclasses import dataclass

from dayflow.partition_mapping import PartitionMapping, check_mapping, infer_mapping
from dayflow.spec import Pipeline, PipelineDependency, Spec, find_cycle


@dataclass(frozen=True, slots=True)
class UpstreamJob:
    """One job's dependency on a job of another pipeline, resolved against the spec."""

    pipeline_name: str
    job_name: str
    mapping: PartitionMapping

    @property
    def name(self) -> str:
        return f"{self.pipeline_name}.{self.job_name}"


def get_upstream_jobs(spec: Spec, pipeline_name: str, job_name: str) -> list[UpstreamJob]:
    """The jobs of other pipelines that `pipeline_name.job_name` waits for (spec checked)."""
    pipeline = spec.get_pipeline(pipeline_name)
    return [
        UpstreamJob(
            dep.pipeline, dep.job, _get_mapping(pipeline, spec.pipelines[dep.pipeline], dep)
        )
        for dep in pipeline.jobs[job_name].get_pipeline_dependencies()
    ]


def get_upstream_pipelines(spec: Spec, pipeline_name: str) -> list[str]:
    """Every pipeline that `pipeline_name` depends on, directly or not, upstream first."""
    order: list[str] = []

    def visit(name: str) -> None:
        for job in spec.get_pipeline(name).jobs.values():
            for dep in job.get_pipeline_dependencies():
                if dep.pipeline not in order:
                    visit(dep.pipeline)
                    order.append(dep.pipeline)

    visit(pipeline_name)
    return [name for name in order if name != pipeline_name]


def _get_mapping(
    downstream: Pipeline, upstream: Pipeline, dep: PipelineDependency
) -> PartitionMapping:
    kind = dep.mapping or infer_mapping(upstream.granularity, downstream.granularity)
    return PartitionMapping(kind, upstream.scheme, downstream.scheme, upstream.start, dep.window)


def check_pipeline_dependencies(spec: Spec) -> list[str]:
    """Problem lines of every cross-pipeline dependency, then of cycles through them."""
    problems: list[str] = []
    graph: dict[str, list[str]] = {}
    for name, pipeline in spec.pipelines.items():
        for job_name, job in pipeline.jobs.items():
            where = f"pipelines.{name}.jobs.{job_name}.depends_on"
            node = graph.setdefault(f"{name}.{job_name}", [])
            node += [f"{name}.{d}" for d in job.get_job_dependencies()]
            for dep in job.get_pipeline_dependencies():
                problem = _check_dependency(spec, name, pipeline, dep)
                if problem:
                    problems.append(f"{where}: {problem}")
                else:
                    node.append(f"{dep.pipeline}.{dep.job}")
    cycle = find_cycle(graph)
    # A cycle within one pipeline is reported with that pipeline's jobs.
    if cycle and len({n.split(".")[0] for n in cycle}) > 1:
        problems.append(f"pipelines: dependency cycle across pipelines {' -> '.join(cycle)}")
    return problems


def _check_dependency(
    spec: Spec, name: str, pipeline: Pipeline, dep: PipelineDependency
) -> str | None:
    label = f"{{pipeline: {dep.pipeline}, job: {dep.job}}}"
    others = ", ".join(p for p in spec.pipelines if p != name) or "no other pipelines"
    if "." in dep.pipeline:
        return (
            f"{label}: depending on a pipeline of another domain is not supported in this "
            f"release (its run ledger is the producer's; expected a pipeline of this spec: "
            f"{others})"
        )
    if dep.pipeline == name:
        return f"{label}: a job of this pipeline is named plainly (expected `- {dep.job}`)"
    upstream = spec.pipelines.get(dep.pipeline)
    if upstream is None:
        return f"{label}: unknown pipeline {dep.pipeline!r} (expected one of: {others})"
    if dep.job not in upstream.jobs:
        return (
            f"{label}: unknown job {dep.job!r} in pipeline {dep.pipeline!r} "
            f"(expected one of: {', '.join(upstream.jobs)})"
        )
    if upstream.timezone != pipeline.timezone:
        return (
            f"{label}: pipeline {dep.pipeline!r} is in {upstream.timezone} and {name!r} in "
            f"{pipeline.timezone} (expected one timezone: keys map by local time)"
        )
    kind = dep.mapping or infer_mapping(upstream.granularity, pipeline.granularity)
    problem = check_mapping(kind, upstream.granularity, pipeline.granularity, dep.window)
    return f"{label}: {problem}" if problem else None
