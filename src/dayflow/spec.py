"""The declarative spec, `dayflow.yaml`: environments, pipelines with their job DAGs, and topics.

`load_spec(path)` parses and validates a spec file. Every problem is reported as one line that
names the file, the field path and what was expected, e.g.
`dayflow.yaml: pipelines.shop.jobs.mart.depends_on: unknown job 'stg' (expected one of: a, b)`.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from dayflow.errors import SpecError
from dayflow.partition_mapping import MappingKind
from dayflow.partitions import Granularity, PartitionScheme
from dayflow.spec_alerts import Alerts
from dayflow.spec_domains import ConsumedKey, ConsumedTable, Email, ExposedKey, ExposedTable
from dayflow.spec_services import Service
from dayflow.spec_sources import Source, check_sources
from dayflow.spec_yaml import read_spec_yaml

EnvironmentName = Literal["local", "dev", "prod"]

# Names that end up in GCP resource ids (Workflows, Scheduler, service accounts): lower snake case.
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
# BigQuery dataset, table and column names; validated here so they can be quoted into SQL safely.
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")]
# What a dbt or Dataform job reads: a logical dataset, or a consumed table (spec_domains).
ReadName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,299}$|^[a-z][a-z0-9_.]+$")]
# Pub/Sub topic ids need at least 3 characters.
TopicName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{2,99}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(
            f"unknown timezone {value!r} (expected an IANA name such as 'Europe/Stockholm')"
        ) from err
    return value


def _check_cron(value: str) -> str:
    from dayflow.cron import check_cron  # each field checked on its own (names the bad one)

    return check_cron(value)


Timezone = Annotated[str, AfterValidator(_check_timezone)]
Cron = Annotated[str, AfterValidator(_check_cron)]


class Environment(_Model):
    """Where an environment lives, and how its datasets are named."""

    gcp_project: str = Field(pattern=r"^[a-z][a-z0-9-]{3,29}$|^local$")
    region: str = "europe-north1"
    # Physical dataset = dataset_prefix + logical dataset name, e.g. "dev_" + "mart".
    dataset_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_]*$")
    labels: dict[str, str] = Field(default_factory=dict)
    # The service account the CLI impersonates to call this environment's job-runner (infra's
    # stack output `operator_service_account`); people cannot mint ID tokens themselves.
    impersonate_service_account: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com$"
    )

    def get_dataset_id(self, logical: str) -> str:
        return f"{self.dataset_prefix}{logical}"


class Destination(_Model):
    """A partitioned BigQuery table that a job writes."""

    dataset: Identifier
    table: Identifier
    partition_field: Identifier
    # DATE suits daily pipelines; hourly pipelines need TIMESTAMP.
    partition_type: Literal["DATE", "TIMESTAMP"] = "DATE"
    require_partition_filter: bool = True
    clustering: list[Identifier] = Field(default_factory=list, max_length=4)


class ReplacePartition(_Model):
    strategy: Literal["replace_partition"] = "replace_partition"


class Merge(_Model):
    strategy: Literal["merge"]
    keys: list[Identifier] = Field(min_length=1)


WriteStrategy = Annotated[ReplacePartition | Merge, Field(discriminator="strategy")]


class PipelineDependency(_Model):
    """A dependency on a job of another pipeline of this spec, by partition
    (`dayflow.partition_mapping`: the mappings, and how `mapping` is inferred when omitted)."""

    # A pipeline of this spec (checked in spec_dependencies; a consumed domain's is refused).
    pipeline: str = Field(max_length=200)
    job: Name
    mapping: MappingKind | None = None
    # Mapping `window` only: how many partitions, ending at the downstream key.
    window: int | None = Field(default=None, ge=1, le=1000)


def _dependency_tag(value: object) -> str:
    return "dependency" if isinstance(value, dict | PipelineDependency) else "job"


# A job of this pipeline by name, or a job of another pipeline by partition (tagged, so a bad
# entry gets the errors of its own form only).
Dependency = Annotated[
    Annotated[Name, Tag("job")] | Annotated[PipelineDependency, Tag("dependency")],
    Discriminator(_dependency_tag),
]
_DEPENDENCY_TAGS = ("job", "dependency")


class _Job(_Model):
    depends_on: list[Dependency] = Field(default_factory=list)
    timeout_seconds: int = Field(default=3600, ge=1, le=86_400)

    def get_job_dependencies(self) -> tuple[str, ...]:
        """The jobs of its own pipeline this job depends on."""
        return tuple(d for d in self.depends_on if isinstance(d, str))

    def get_pipeline_dependencies(self) -> tuple[PipelineDependency, ...]:
        """The jobs of other pipelines this job depends on, with their partition mappings."""
        return tuple(d for d in self.depends_on if isinstance(d, PipelineDependency))


class BigQuerySqlJob(_Job):
    """A SQL SELECT (in a file next to the spec) written idempotently into one partition.

    The query may use `@partition_key` (STRING), `@partition_date` (DATE, daily pipelines),
    `@partition_start` and `@partition_end` (TIMESTAMP, the partition's half-open UTC bounds).
    It names datasets that dayflow manages as `{{ dataset:staging }}`: each environment's
    dataset for that logical name.
    """

    kind: Literal["bigquery_sql"]
    sql: str = Field(pattern=r"\.sql$")
    destination: Destination
    write: WriteStrategy = Field(default_factory=ReplacePartition)


# Vars that dbt and Dataform jobs always receive from dayflow; a job's own `vars` cannot set them.
RESERVED_TRANSFORM_VARS = ("partition_key", "partition_start", "partition_end", "dataset_prefix")


def _check_transform_vars(
    value: dict[str, str | int | float | bool],
) -> dict[str, str | int | float | bool]:
    reserved = sorted(set(value) & set(RESERVED_TRANSFORM_VARS))
    if reserved:
        raise ValueError(
            f"vars {', '.join(map(repr, reserved))} are set by dayflow for each partition "
            f"(expected other names than {', '.join(RESERVED_TRANSFORM_VARS)})"
        )
    return value


# Extra project vars of a dbt or Dataform job, passed beside the partition's vars.
TransformVars = Annotated[
    dict[Identifier, str | int | float | bool], AfterValidator(_check_transform_vars)
]


class DbtJob(_Job):
    kind: Literal["dbt"]
    project_dir: str
    select: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    # Tests named here only warn; any other failing test fails the job.
    warn_tests: list[str] = Field(default_factory=list)
    # The dbt target's name in GCP (default: the environment's name); local runs use `local`.
    target: str | None = None
    vars: TransformVars = Field(default_factory=dict)
    # Logical dataset of models without a `schema` config (the profile's dataset).
    dataset: Identifier = "dbt"
    # Logical datasets the project's models write (default: `dataset`). Infra grants the dbt
    # account write access on exactly these, and creates them.
    writes: list[Identifier] = Field(default_factory=list)
    # Datasets the project's models read besides those they write: the spec's logical datasets
    # or declared `sources`, or consumed tables (`domain.dataset.table`, per table). Infra
    # grants the dbt account read access on exactly these.
    reads: list[ReadName] = Field(default_factory=list)

    def get_written_datasets(self) -> tuple[str, ...]:
        """The logical datasets this job writes: `writes`, else the profile's `dataset`."""
        return tuple(dict.fromkeys(self.writes or [self.dataset]))


class ManagedDataform(_Model):
    repository: str
    git_commitish: str = "main"


class DataformJob(_Job):
    kind: Literal["dataform"]
    project_dir: str
    tags: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    # When set, run through the managed Dataform API instead of the local CLI.
    managed: ManagedDataform | None = None
    vars: TransformVars = Field(default_factory=dict)
    # Logical datasets the project's actions write (tables, views, and the assertions'
    # `defaultAssertionDataset`). Infra grants the Dataform account write access on exactly
    # these, and creates them. The CLI (3.0.69, `prepareAllSchemas`) lists the datasets and
    # issues `CREATE SCHEMA IF NOT EXISTS` only for those missing from the list, which would need
    # `bigquery.datasets.create` on the project; the list holds every dataset the account has
    # `bigquery.datasets.get` on (dataEditor has it), so with these declared it issues none
    # (https://cloud.google.com/bigquery/docs/listing-datasets).
    writes: list[Identifier] = Field(default_factory=list)
    # Datasets the project reads besides those it writes (spec datasets or declared `sources`),
    # or consumed tables (`domain.dataset.table`).
    reads: list[ReadName] = Field(default_factory=list)

    def get_written_datasets(self) -> tuple[str, ...]:
        """The logical datasets this job writes, as declared in `writes`."""
        return tuple(dict.fromkeys(self.writes))


class HttpJob(_Job):
    """POSTs the partition to `path` of one of the domain's `services` (dayflow.spec_services),
    which does the work and answers `{"rows_written": N}` (job_runner.domain.http_jobs).

    The service must honour the idempotency contract (README, "The http kind"): a call for a
    partition replaces that partition, whatever ran before or runs beside it. `destination`,
    when set, names the partitioned table the service writes: dayflow creates its dataset,
    checksums it, and passes its id to the service. In GCP the call carries an OIDC ID token
    for the service's URL; `timeout_seconds` bounds the call, at most Cloud Run's 3,600 s.
    """

    kind: Literal["http"]
    service: Name
    path: str = Field(default="/", pattern=r"^/[A-Za-z0-9._~/-]*$")
    destination: Destination | None = None
    # Cloud Run's own default request timeout; its maximum is 60 minutes.
    timeout_seconds: int = Field(default=300, ge=1, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _refuse_url(cls, data: object) -> object:
        if isinstance(data, dict):
            if "url" in data:
                raise ValueError(
                    f"url {data['url']!r}: an http job calls one of the spec's services "
                    "(expected service: NAME and path: /PATH, with NAME declared under services)"
                )
            for key in ("method", "auth"):
                if key in data:
                    raise ValueError(
                        f"{key} {data[key]!r} cannot be set: an http job always POSTs, with an "
                        "OIDC ID token in GCP and none locally (expected no method or auth)"
                    )
        return data


class DedupJob(_Job):
    """Builds a topic's deduplicated semantic table for a partition from its ingest table."""

    kind: Literal["dedup"]
    topic: TopicName
    destination: Destination
    # SCD type 2 history (valid_from, valid_to, is_current) instead of the latest state only.
    history: bool = False
    # Events ingested more than this many days after their partition's end are not read, so a
    # build scans a bounded window of the ingest table (dayflow.semantic). null: no bound (to
    # load a replay of old events; each build then scans the ingest table up to now).
    allowed_lateness_days: int | None = Field(default=7, ge=0, le=3650)


def _check_image(value: str) -> str:
    # Pinned, as infra's `dayflow:image`: a digest, or a tag other than `latest` (the tag follows
    # the last ':' after the last '/': a registry host may carry a port).
    tag = value.rpartition("/")[2].partition(":")[2]
    if "@sha256:" not in value and tag in ("", "latest"):
        raise ValueError(
            f"image {value!r} is not pinned (expected a digest `@sha256:...` or a tag other "
            "than latest)"
        )
    return value


# A container image: `REGISTRY/PATH[:TAG][@sha256:DIGEST]`, no whitespace or shell characters.
ImageRef = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9.:/_-]*(@sha256:[0-9a-f]{64})?$"),
    AfterValidator(_check_image),
]
# Names of environment variables a job sets; `DAYFLOW_*` are dayflow's (CLOUD_RUN_JOB_ENV_PREFIX).
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")]
CLOUD_RUN_JOB_ENV_PREFIX = "DAYFLOW_"


def _check_job_env(value: dict[str, str]) -> dict[str, str]:
    reserved = sorted(k for k in value if k.upper().startswith(CLOUD_RUN_JOB_ENV_PREFIX))
    if reserved:
        raise ValueError(
            f"env {', '.join(map(repr, reserved))} {'is' if len(reserved) == 1 else 'are'} set "
            "by dayflow for each partition "
            f"(expected names that do not start with {CLOUD_RUN_JOB_ENV_PREFIX})"
        )
    return value


class CloudRunJob(_Job):
    """Your own container, run once per partition as a Cloud Run Job execution.

    In GCP the job-runner executes the Cloud Run Job that infra creates from these fields, with
    the partition in environment-variable overrides (`dayflow.cloud_run_job_env`); locally the
    container's `command` + `args` run as a subprocess in the spec's directory with the same
    variables. `timeout_seconds` bounds the whole execution (the task timeout too). The job
    writes `destination`'s partition idempotently (replacing exactly that partition): the
    runner then counts its rows and checksums cover it.
    """

    kind: Literal["cloud_run_job"]
    # Default: the project's own image, the one the job-runner runs (the spec's files are in it).
    image: ImageRef | None = None
    command: list[str] = Field(min_length=1, max_length=100)
    args: list[str] = Field(default_factory=list, max_length=100)
    env: Annotated[dict[EnvName, str], AfterValidator(_check_job_env)] = Field(default_factory=dict)
    # The Cloud Run Job's own task retries before an execution fails (then the run fails
    # permanently: dayflow does not retry on top).
    max_retries: int = Field(default=0, ge=0, le=10)
    cpu: Literal["1", "2", "4", "8"] = "1"
    memory: str = Field(default="512Mi", pattern=r"^[1-9][0-9]{0,5}(Mi|Gi)$")
    # The partitioned table the job replaces a partition of (optional: a job may write elsewhere).
    destination: Destination | None = None
    # Logical datasets the job reads (spec datasets or declared sources): its account may read
    # exactly these, and write its destination's dataset.
    reads: list[Identifier] = Field(default_factory=list)

    def get_written_datasets(self) -> tuple[str, ...]:
        """The logical datasets this job writes: its destination's, if any."""
        return (self.destination.dataset,) if self.destination else ()


Job = Annotated[
    BigQuerySqlJob | DbtJob | DataformJob | HttpJob | DedupJob | CloudRunJob,
    Field(discriminator="kind"),
]
JOB_KINDS = ("bigquery_sql", "dbt", "dataform", "http", "dedup", "cloud_run_job")


class CatchUp(_Model):
    """On a scheduled run, also start missing partitions among the `window` before it."""

    enabled: bool = False
    window: int = Field(default=0, ge=0, le=10_000)


class UpstreamWait(_Model):
    """How long a scheduled run (a Workflows execution) waits for its jobs' upstream partitions
    in other pipelines: the job-runner answers `waiting` with `poll_seconds` as the retry
    delay until `timeout_seconds` after its first answer, then fails the run naming them."""

    timeout_seconds: int = Field(default=6 * 3600, ge=0, le=7 * 86_400)
    poll_seconds: int = Field(default=600, ge=1, le=86_400)


class Pipeline(_Model):
    granularity: Granularity
    timezone: Timezone
    schedule: Cron
    start: str
    # A schedule time processes the partition `lag` partitions before the one containing it:
    # 1 means "the last complete partition" (a daily 02:00 run processes yesterday).
    lag: int = Field(default=1, ge=0, le=1000)
    catch_up: CatchUp = Field(default_factory=CatchUp)
    upstream_wait: UpstreamWait = Field(default_factory=UpstreamWait)
    jobs: dict[Name, Job] = Field(min_length=1)
    # Freshness limit and who is told (dayflow.spec_alerts); infra turns them into alerts.
    alerts: Alerts | None = None

    @functools.cached_property
    def scheme(self) -> PartitionScheme:
        return PartitionScheme(self.granularity, self.timezone)


FieldType = Literal[
    "string", "integer", "number", "boolean", "timestamp", "date", "object", "array"
]


class TopicField(_Model):
    type: FieldType
    required: bool = False
    enum: list[str | int] | None = None
    description: str = ""
    # From this date the field may be removed (`dayflow contract check`, expand and contract).
    deprecated: date | None = None


class Topic(_Model):
    """An event topic and the schema its messages' JSON data must satisfy."""

    schema_version: int = Field(default=1, ge=1)
    fields: dict[Identifier, TopicField] = Field(min_length=1)
    # The business key and event time that the semantic layer deduplicates and orders by.
    key: list[Identifier] = Field(min_length=1)
    event_time: Identifier
    max_payload_bytes: int = Field(default=1_000_000, ge=1, le=10_000_000)
    ingest_dataset: Identifier = "ingest"


class Spec(_Model):
    """A whole `dayflow.yaml`."""

    version: Literal[1]
    name: Name
    environments: dict[EnvironmentName, Environment]
    # Source datasets by their BigQuery name (`raw`): read by jobs, owned by someone else.
    sources: dict[Identifier, Source] = Field(default_factory=dict)
    pipelines: dict[Name, Pipeline] = Field(default_factory=dict)
    topics: dict[TopicName, Topic] = Field(default_factory=dict)
    # Many domains (dayflow.spec_domains): the team's group, data products, other domains' tables.
    team_group: Email | None = None
    exposes: dict[ExposedKey, ExposedTable] = Field(default_factory=dict)
    consumes: dict[ConsumedKey, ConsumedTable] = Field(default_factory=dict)
    # The domain's own HTTP services that `http` jobs call (dayflow.spec_services).
    services: dict[Name, Service] = Field(default_factory=dict)
    # The directory of the spec file: job files (`sql`, `project_dir`) are relative to it.
    root: Path = Field(default=Path(), exclude=True)

    @field_validator("environments")
    @classmethod
    def _require_local(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        if "local" not in value:
            raise ValueError("environment 'local' is missing (expected local, dev and prod)")
        return value

    def get_pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            raise SpecError(
                f"unknown pipeline {name!r} (expected one of: {', '.join(self.pipelines)})"
            ) from None

    def get_environment(self, name: str) -> Environment:
        try:
            return self.environments[name]  # type: ignore[index]
        except KeyError:
            raise SpecError(
                f"unknown environment {name!r} (expected one of: {', '.join(self.environments)})"
            ) from None


def get_datasets(spec: Spec) -> list[str]:
    """Every logical dataset the spec writes: job destinations and topics' ingest datasets."""
    names = {"dayflow"}
    for pipeline in spec.pipelines.values():
        for job in pipeline.jobs.values():
            # An http job's destination is written by its service; dayflow creates the dataset.
            if isinstance(job, BigQuerySqlJob | DedupJob | HttpJob) and job.destination:
                names.add(job.destination.dataset)
            elif isinstance(job, CloudRunJob):
                names.update(job.get_written_datasets())
    names.update(topic.ingest_dataset for topic in spec.topics.values())
    return sorted(names)


def load_spec(path: str | Path) -> Spec:
    """Load and validate a spec file; raise `SpecError` with one line per problem."""
    path = Path(path)
    raw = read_spec_yaml(path)
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        spec = Spec.model_validate({**raw, "root": path.parent})
    except ValidationError as err:
        raise SpecError(*(f"{path}: {line}" for line in _format_errors(err))) from None
    problems = [f"{path}: {line}" for line in check_spec(spec)]
    if problems:
        raise SpecError(*problems)
    return spec


def _format_errors(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors(include_url=False):
        loc = _field_path(e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        value = e.get("input")
        if e["type"] != "value_error" and isinstance(value, str | int | float | bool):
            message += f" (got {value!r})"
        lines.append(f"{loc}: {message}" if loc else message)
    return lines


def _field_path(loc: tuple[int | str, ...]) -> str:
    # pydantic puts the discriminator value of a tagged union in the path: drop it.
    parts = [
        str(p)
        for i, p in enumerate(loc)
        if not (i >= 3 and loc[i - 2] == "jobs" and p in JOB_KINDS)
        and not (i >= 2 and loc[i - 2] == "depends_on" and p in _DEPENDENCY_TAGS)
    ]
    return ".".join(parts)


def check_spec(spec: Spec) -> list[str]:
    """Checks across fields: job graphs, partition keys, file references. Returns problem lines."""
    problems: list[str] = []
    for name, pipeline in spec.pipelines.items():
        where = f"pipelines.{name}"
        try:
            pipeline.scheme.parse_partition_key(pipeline.start)
        except ValueError as err:
            problems.append(f"{where}.start: {err}")
        for job_name, job in pipeline.jobs.items():
            for dep in job.get_job_dependencies():
                if dep == job_name:
                    problems.append(f"{where}.jobs.{job_name}.depends_on: job depends on itself")
                elif dep not in pipeline.jobs:
                    problems.append(
                        f"{where}.jobs.{job_name}.depends_on: unknown job {dep!r} "
                        f"(expected one of: {', '.join(j for j in pipeline.jobs if j != job_name)})"
                    )
            if (
                isinstance(job, BigQuerySqlJob | DedupJob | HttpJob | CloudRunJob)
                and job.destination
            ):
                dest = job.destination
                if pipeline.granularity == "hour" and dest.partition_type == "DATE":
                    problems.append(
                        f"{where}.jobs.{job_name}.destination.partition_type: DATE cannot hold "
                        "hourly partitions (expected TIMESTAMP)"
                    )
            if (
                isinstance(job, BigQuerySqlJob)
                and isinstance(job.write, Merge)
                and job.destination.require_partition_filter
            ):
                problems.append(
                    f"{where}.jobs.{job_name}.destination.require_partition_filter: "
                    "a merge matches keys across the whole table "
                    "(expected require_partition_filter: false)"
                )
            if isinstance(job, BigQuerySqlJob) and not (spec.root / job.sql).is_file():
                problems.append(f"{where}.jobs.{job_name}.sql: file {job.sql!r} not found")
            if isinstance(job, DedupJob) and job.topic not in spec.topics:
                problems.append(
                    f"{where}.jobs.{job_name}.topic: unknown topic {job.topic!r} "
                    f"(expected one of: {', '.join(spec.topics) or 'no topics declared'})"
                )
        cycle = find_cycle(
            {j: list(job.get_job_dependencies()) for j, job in pipeline.jobs.items()}
        )
        if cycle:
            problems.append(f"{where}.jobs: dependency cycle {' -> '.join(cycle)}")
    from dayflow.spec_datasets import check_datasets  # it imports this module
    from dayflow.spec_dependencies import check_pipeline_dependencies
    from dayflow.spec_domains import check_domains
    from dayflow.spec_services import check_services

    problems += check_services(spec)

    problems += check_datasets(spec)
    problems += check_pipeline_dependencies(spec)
    problems += check_sources(spec)
    problems += check_domains(spec)
    from dayflow.spec_types import check_types  # it imports this module

    problems += check_types(spec)
    for topic_name, topic in spec.topics.items():
        for field in [*topic.key, topic.event_time]:
            if field not in topic.fields:
                problems.append(
                    f"topics.{topic_name}: key or event_time field {field!r} "
                    "is not declared in fields"
                )
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one dependency cycle as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if dep == node or dep not in graph:
                continue  # reported separately
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None
