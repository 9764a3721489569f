"""The stack's configuration: Pulumi config plus the spec, read once into a frozen `StackConfig`.

Every key is declared, with its description, in `Pulumi.yaml`. Relative paths are resolved
against the project root (the folder of `Pulumi.yaml`), whatever the working directory is.
Bad values fail before any resource is registered, with a message naming the key, the value
and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, cast

import pulumi

from dayflow.errors import UserError
from dayflow.infra.alert_channels import ChannelConfig, check_notify, parse_channels
from dayflow.infra.catalog import get_managed_dataform
from dayflow.infra.locations import get_scheduler_region
from dayflow.package_files import WORKFLOW_SUFFIX, get_ingest_function_dir, get_workflows_dir
from dayflow.spec import Environment, Spec, load_spec

# Where a project image (the project's Dockerfile, on the toolkit image) puts the project;
# dayflow.project_image.APP_DIR is the same (tests/infra/test_image_spec_path.py).
IMAGE_APP_DIR = "/app"
DEPLOYABLE_ENVIRONMENTS = ("dev", "prod")
# The workflow the job-runner starts for every scheduled or requested partition.
RUN_PARTITION_WORKFLOW = "run_partition"

IngestDelivery = Literal["push", "eventarc"]
INGEST_DELIVERIES: tuple[IngestDelivery, ...] = ("push", "eventarc")

_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


class StackConfigError(UserError):
    """A Pulumi config value or a file it points to is missing or invalid."""


@dataclass(frozen=True)
class StackConfig:
    """Everything the components need, resolved and validated. Built by `load_stack_config`."""

    stack: str
    environment: str
    spec: Spec
    spec_path: Path
    image_spec_path: str  # the same spec inside the job-runner image
    project: str
    region: str
    image: str
    min_instances: int
    max_instances: int
    schedule_paused: bool
    deletion_protection: bool
    workflow_files: tuple[Path, ...]
    ingest_function_dir: Path
    ingest_delivery: IngestDelivery
    ingest_max_instances: int
    # Cloud Scheduler's region: the stack's region where Scheduler runs, else `schedulerRegion`.
    scheduler_region: str = ""
    # Requests one job-runner instance serves at once (Cloud Run container concurrency); the
    # job-runner runs at most this many partitions at once per instance.
    job_runner_concurrency: int = 20
    dataform_git_remotes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    dataform_git_token: pulumi.Output[str] | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # People or groups who may call the job-runner (manual backfills, the CLI's --env) and start
    # Workflows executions, e.g. "group:data-eng@acme.com".
    operators: tuple[str, ...] = ()
    # "internal": only same-project Scheduler, Workflows and VPC traffic reach the job-runner;
    # "all": also operators' requests from the internet, still IAM-checked with OIDC.
    job_runner_ingress: str = "internal"
    # Where alerts go (dayflow.infra.alert_channels), by the names `alerts.notify` uses.
    notification_channels: tuple[ChannelConfig, ...] = ()

    @property
    def env(self) -> Environment:
        """The spec's environment this stack deploys."""
        return self.spec.get_environment(self.environment)

    def get_dataset_id(self, logical: str) -> str:
        """Physical dataset id of a logical dataset in this environment (`mart` -> `dev_mart`)."""
        return self.env.get_dataset_id(logical)


def load_stack_config(
    config: pulumi.Config | None = None,
    *,
    stack: str | None = None,
    root: Path,
) -> StackConfig:
    """Read the project config (namespace `dayflow`), the `gcp` provider config and the spec."""
    config = config or pulumi.Config()
    stack = stack or pulumi.get_stack()
    environment = config.get("environment") or stack
    if environment not in DEPLOYABLE_ENVIRONMENTS:
        raise StackConfigError(
            f"config environment: {environment!r} cannot be deployed "
            f"(expected one of: {', '.join(DEPLOYABLE_ENVIRONMENTS)}; "
            "it defaults to the stack name)"
        )
    spec_path = _resolve(root, config.get("specPath") or "dayflow.yaml")
    spec = load_spec(spec_path)
    if environment not in spec.environments:
        raise StackConfigError(
            f"{spec_path}: environment {environment!r} is not declared "
            f"(expected it under environments, beside: {', '.join(spec.environments)})"
        )
    env = spec.get_environment(environment)

    gcp_project = pulumi.Config("gcp").get("project")
    if gcp_project and gcp_project != env.gcp_project:
        raise StackConfigError(
            f"config gcp:project: {gcp_project!r} differs from environments.{environment}."
            f"gcp_project {env.gcp_project!r} in {spec_path.name} (expected them to be equal)"
        )

    image = _get_image(config)
    min_instances = _get_int(config, "minInstances", 0, low=0, high=100)
    max_instances = _get_int(config, "maxInstances", 3, low=1, high=1000)
    if min_instances > max_instances:
        raise StackConfigError(
            f"config minInstances: {min_instances} is above maxInstances {max_instances} "
            "(expected minInstances <= maxInstances)"
        )
    delivery = config.get("ingestDelivery") or "push"
    if delivery not in INGEST_DELIVERIES:
        raise StackConfigError(
            f"config ingestDelivery: {delivery!r} is not supported "
            f"(expected one of: {', '.join(INGEST_DELIVERIES)})"
        )
    deletion_protection = config.get_bool("deletionProtection")
    schedule_paused = config.get_bool("schedulePaused")

    workflows_dir = _resolve(root, config.get("workflowsDir") or get_workflows_dir())
    workflow_files = _get_workflow_files(workflows_dir, needs_run_partition=bool(spec.pipelines))
    ingest_function_dir = _resolve(
        root, config.get("ingestFunctionDir") or get_ingest_function_dir()
    )
    if spec.topics and not (ingest_function_dir / "main.py").is_file():
        raise StackConfigError(
            f"config ingestFunctionDir: {ingest_function_dir} has no main.py "
            f"(expected the ingest function's source, since the spec declares topics)"
        )

    git_remotes = _get_str_map(config, "dataformGitRemotes")
    git_token = config.get_secret("dataformGitToken")
    managed = {r.repository for r in get_managed_dataform(spec)}
    for repo in git_remotes:
        if repo not in managed:
            raise StackConfigError(
                f"config dataformGitRemotes.{repo}: no dataform job of {spec_path.name} manages "
                f"repository {repo!r} (expected one of: {', '.join(sorted(managed)) or 'none'})"
            )
    if git_remotes and git_token is None:
        raise StackConfigError(
            "config dataformGitToken: missing while dataformGitRemotes is set (expected "
            "`pulumi config set --secret dataformGitToken <token>`)"
        )

    channels = parse_channels(config.get_object("notificationChannels"))
    check_notify(spec, channels)

    return StackConfig(
        stack=stack,
        environment=environment,
        spec=spec,
        spec_path=spec_path,
        image_spec_path=_get_image_path(root, spec_path),
        project=env.gcp_project,
        region=env.region,
        image=image,
        min_instances=min_instances,
        max_instances=max_instances,
        # Secure and cheap by default: prod is protected, dev schedules stay paused.
        schedule_paused=schedule_paused if schedule_paused is not None else environment != "prod",
        deletion_protection=(
            deletion_protection if deletion_protection is not None else environment == "prod"
        ),
        workflow_files=workflow_files,
        ingest_function_dir=ingest_function_dir,
        ingest_delivery=cast(IngestDelivery, delivery),
        ingest_max_instances=_get_int(config, "ingestMaxInstances", 10, low=1, high=1000),
        scheduler_region=_get_scheduler_region(config, env.region),
        job_runner_concurrency=_get_int(config, "jobRunnerConcurrency", 20, low=1, high=1000),
        dataform_git_remotes=MappingProxyType(git_remotes),
        dataform_git_token=git_token,
        labels=MappingProxyType(_get_labels(env.labels, spec.name, environment)),
        operators=_get_operators(config),
        job_runner_ingress=_get_ingress(config),
        notification_channels=channels,
    )


# A pinned image: a digest (`@sha256:` + 64 hex digits), or a tag other than `latest`. The tag
# is what follows the last `:` after the last `/` (a registry host may carry a `:port`).
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_IMAGE_EXAMPLE = (
    "e.g. europe-north1-docker.pkg.dev/PROJECT/dayflow/job-runner@sha256:<digest> "
    "or ...job-runner:<git sha>"
)


def _get_image(config: pulumi.Config) -> str:
    """The job-runner image, pinned by digest or by a tag that names one build."""
    image = (config.get("image") or "").strip()
    if not image:
        raise StackConfigError(
            f"config image: missing (expected the job-runner image, {_IMAGE_EXAMPLE})"
        )
    if _DIGEST.search(image):
        return image
    if "@" in image:
        raise StackConfigError(
            f"config image: {image!r} has a malformed digest (expected @sha256: and 64 hex digits)"
        )
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag:
        raise StackConfigError(
            f"config image: {image!r} has no tag or digest "
            f"(expected a pinned image, {_IMAGE_EXAMPLE})"
        )
    if tag == "latest":
        raise StackConfigError(
            f"config image: {image!r} uses the moving tag 'latest' "
            f"(expected a digest or a tag of one build, {_IMAGE_EXAMPLE})"
        )
    return image


def _get_scheduler_region(config: pulumi.Config, region: str) -> str:
    try:
        return get_scheduler_region(config.get("schedulerRegion"), region)
    except ValueError as err:
        raise StackConfigError(f"config schedulerRegion: {err}") from err


_MEMBER = re.compile(r"^(user|group|serviceAccount|domain):[^\s]+$")


def _get_operators(config: pulumi.Config) -> tuple[str, ...]:
    members = config.get_object("operators") or []
    if not isinstance(members, list):
        raise StackConfigError("config operators: expected a list of IAM members")
    for member in members:
        if not isinstance(member, str) or not _MEMBER.match(member):
            raise StackConfigError(
                f"config operators: {member!r} is not an IAM member of a person or group "
                "(expected e.g. group:data-eng@acme.com; never allUsers or allAuthenticatedUsers)"
            )
    return tuple(members)


def _get_ingress(config: pulumi.Config) -> str:
    ingress = config.get("jobRunnerIngress") or "internal"
    if ingress not in ("internal", "all"):
        raise StackConfigError(
            f"config jobRunnerIngress: {ingress!r} is not supported (expected internal or all)"
        )
    return ingress


def _get_image_path(root: Path, spec_path: Path) -> str:
    try:
        relative = spec_path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # a spec outside the project (tests): the image holds it by name
        relative = spec_path.name
    return f"{IMAGE_APP_DIR}/{relative}"


def _resolve(root: Path, value: str | Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def _get_int(config: pulumi.Config, key: str, default: int, *, low: int, high: int) -> int:
    try:
        value = config.get_int(key)
    except pulumi.ConfigTypeError as err:
        raise StackConfigError(f"config {key}: {err} (expected an integer)") from err
    value = default if value is None else value
    if not low <= value <= high:
        raise StackConfigError(f"config {key}: {value} is out of range (expected {low}..{high})")
    return value


def _get_str_map(config: pulumi.Config, key: str) -> dict[str, str]:
    raw = config.get_object(key) or {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise StackConfigError(
            f"config {key}: {raw!r} is not a map of strings "
            "(expected repository name -> https git URL)"
        )
    for name, url in raw.items():
        if not url.startswith("https://"):
            raise StackConfigError(
                f"config {key}.{name}: {url!r} is not an https git URL (expected https://...)"
            )
    return dict(raw)


def _get_workflow_files(folder: Path, *, needs_run_partition: bool) -> tuple[Path, ...]:
    files = tuple(sorted(folder.glob(f"*{WORKFLOW_SUFFIX}")))
    if not files:
        raise StackConfigError(
            f"config workflowsDir: {folder} holds no workflow sources "
            f"(expected *{WORKFLOW_SUFFIX} files)"
        )
    stems = [f.name.removesuffix(WORKFLOW_SUFFIX) for f in files]
    if needs_run_partition and RUN_PARTITION_WORKFLOW not in stems:
        raise StackConfigError(
            f"config workflowsDir: {folder} has no {RUN_PARTITION_WORKFLOW}{WORKFLOW_SUFFIX} "
            f"(expected it: schedules start it; found: {', '.join(stems)})"
        )
    return files


def _get_labels(spec_labels: Mapping[str, str], spec_name: str, environment: str) -> dict[str, str]:
    labels = {
        **spec_labels,
        "managed-by": "pulumi",
        "dayflow-spec": spec_name,
        "dayflow-env": environment,
    }
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
            raise StackConfigError(
                f"label {key}={value!r} is not a valid GCP label (expected a lowercase key "
                "starting with a letter and a value of lowercase letters, digits, '-' or '_')"
            )
    return labels
