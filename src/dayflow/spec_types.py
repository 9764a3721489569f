"""Validate-time type rules of a spec: what each field's type allows, checked by `dayflow
validate` so that no spec that loads fails at run time for a reason the spec already shows.

- a topic's `event_time` is a timestamp or date field (the semantic layer places events in
  partitions by it; the ingest function checks it is not in the future);
- a topic's `key` fields have types BigQuery can partition a window and cluster by;
- an `enum` lists values of its field's type (strings for a string field, integers for an
  integer field): any other value could never match, and every event would be dead-lettered;
- a `dedup` job can build its topic's semantic table (`dayflow.semantic` states the rules).
"""

from __future__ import annotations

from dayflow.errors import SpecError
from dayflow.spec import DedupJob, Spec, Topic

# Types a business key may have: BigQuery cannot partition a window or cluster by the others
# (the semantic layer's `PARTITION BY` and clustering, which use these too).
KEY_TYPES = ("string", "integer", "boolean", "timestamp", "date")
EVENT_TIME_TYPES = ("timestamp", "date")


def check_types(spec: Spec) -> list[str]:
    """One line per type rule the spec breaks (field path, the value, what was expected)."""
    problems: list[str] = []
    typed_topics = set()
    for name, topic in spec.topics.items():
        found = check_topic_types(name, topic)
        problems += found
        if not found and {*topic.key, topic.event_time} <= set(topic.fields):
            typed_topics.add(name)
    for pipeline_name, pipeline in spec.pipelines.items():
        for job_name, job in pipeline.jobs.items():
            where = f"pipelines.{pipeline_name}.jobs.{job_name}"
            if isinstance(job, DedupJob) and job.topic in typed_topics:
                problems += _check_dedup(spec, where, job)
    return problems


def check_topic_types(name: str, topic: Topic) -> list[str]:
    """The type rules of one topic's `event_time`, `key` and `enum`s."""
    problems = []
    where = f"topics.{name}"
    event_field = topic.fields.get(topic.event_time)
    if event_field is not None and event_field.type not in EVENT_TIME_TYPES:
        problems.append(
            f"{where}.event_time: field {topic.event_time!r} is {_a(event_field.type)} "
            f"(expected a {' or '.join(EVENT_TIME_TYPES)} field)"
        )
    for key in topic.key:
        key_field = topic.fields.get(key)
        if key_field is not None and key_field.type not in KEY_TYPES:
            problems.append(
                f"{where}.key: field {key!r} is {_a(key_field.type)} "
                f"(expected one of: {', '.join(KEY_TYPES)})"
            )
    for field_name, field in topic.fields.items():
        if field.enum is None:
            continue
        path = f"{where}.fields.{field_name}.enum"
        if field.type not in ("string", "integer"):
            problems.append(
                f"{path}: {_a(field.type)} field cannot have an enum (expected a string or "
                "integer field)"
            )
            continue
        wanted = str if field.type == "string" else int
        wrong = [v for v in field.enum if not isinstance(v, wanted) or isinstance(v, bool)]
        if wrong:
            problems.append(
                f"{path}: value {wrong[0]!r} is not {_a(field.type)} "
                f"(expected {field.type} values, as the field's type)"
            )
    return problems


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _check_dedup(spec: Spec, where: str, job: DedupJob) -> list[str]:
    """A dedup job's semantic table rules, as `dayflow.semantic` applies them at run time."""
    from dayflow.semantic import get_semantic_table  # it imports dayflow.spec

    try:
        get_semantic_table(job.topic, spec.topics[job.topic], job)
    except SpecError as err:
        message = str(err)
        return [message if message.startswith("topics.") else f"{where}: {message}"]
    return []
