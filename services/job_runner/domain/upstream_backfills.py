"""Backfills across pipelines: the cross-pipeline edges a plan shows, and with
`include_upstream` the upstream pipelines' backfills that run before the pipeline's own.

A stage is one upstream pipeline and the inclusive key range its downstream pipelines need
(each edge's `PartitionMapping.get_upstream_range`, merged over every edge into it, transitively).
Stages are in run order: a pipeline after every pipeline it depends on. The `backfill` workflow
runs each stage as a child `backfill` execution, one after another, then the pipeline's own
lanes; a downstream partition whose upstream partitions failed waits (and, past its pipeline's
`upstream_wait` timeout, fails naming them).
"""

from __future__ import annotations

from typing import Any

from dayflow.partitions import PartitionKeyRange
from dayflow.spec import Spec
from dayflow.spec_dependencies import get_upstream_jobs, get_upstream_pipelines


def get_edges(spec: Spec, pipeline_name: str) -> list[dict[str, Any]]:
    """Each dependency of the pipeline's jobs on a job of another pipeline: {job,
    upstream_pipeline, upstream_job, mapping, window}."""
    pipeline = spec.get_pipeline(pipeline_name)
    return [
        {
            "job": job_name,
            "upstream_pipeline": upstream.pipeline_name,
            "upstream_job": upstream.job_name,
            "mapping": upstream.mapping.kind,
            "window": upstream.mapping.window,
        }
        for job_name in pipeline.jobs
        for upstream in get_upstream_jobs(spec, pipeline_name, job_name)
    ]


def get_upstream_stages(
    spec: Spec, pipeline_name: str, key_range: PartitionKeyRange
) -> list[tuple[str, PartitionKeyRange]]:
    """The upstream pipelines and the key ranges that `key_range` of `pipeline_name` needs, in
    run order (upstream first). A pipeline whose needed keys all precede its `start` is left
    out."""
    order = get_upstream_pipelines(spec, pipeline_name)
    ranges: dict[str, PartitionKeyRange] = {pipeline_name: key_range}
    # Downstream first: every pipeline's range is complete before it is mapped upstream.
    for name in [pipeline_name, *reversed(order)]:
        needed = ranges.get(name)
        if needed is None:
            continue
        for job_name in spec.get_pipeline(name).jobs:
            for upstream in get_upstream_jobs(spec, name, job_name):
                upstream_range = upstream.mapping.get_upstream_range(needed)
                if upstream_range is None:
                    continue
                known = ranges.get(upstream.pipeline_name)
                if known is not None:
                    upstream_range = PartitionKeyRange(
                        min(known.start, upstream_range.start), max(known.end, upstream_range.end)
                    )
                ranges[upstream.pipeline_name] = upstream_range
    return [(name, ranges[name]) for name in order if name in ranges]


def get_stage_requests(
    spec: Spec, body: dict[str, Any], backfill_id: str | None
) -> list[dict[str, Any]]:
    """The `backfill` arguments of each upstream stage of a backfill request body (a range, or
    the span of its key list), with the body's order, only and concurrency."""
    keys = body.get("partition_keys")
    if keys:
        key_range = PartitionKeyRange(min(keys), max(keys))
    else:
        key_range = PartitionKeyRange(body["start"], body["end"])
    requests = []
    for name, stage_range in get_upstream_stages(spec, body["pipeline"], key_range):
        request: dict[str, Any] = {
            "pipeline": name,
            "start": stage_range.start,
            "end": stage_range.end,
            "order": body.get("order", "asc"),
            "only": body.get("only", "all"),
            "concurrency": body.get("concurrency", 4),
        }
        if backfill_id is not None:
            # Its own id, readable as part of the backfill (ids are at most 100 characters).
            request["backfill_id"] = f"{backfill_id}-{name}"[-100:]
        requests.append(request)
    return requests
