"""Run the real Pulumi program (`infra/__main__.py`) against Pulumi's mock engine.

Only the engine is mocked: the program reads real stack config and a real spec, and every
resource's resolved inputs are recorded as the provider would receive them (camelCase keys).
The mocks fill the outputs GCP computes (emails, members, URLs, ids), because an IAM member
built from an unfilled output silently becomes None.

Used by the tests in this folder and by `bench/infra.py`.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

from dayflow import package_files
from tests.infra.generated_spec import write_spec  # noqa: F401  (re-exported for tests and bench/infra.py)

ROOT = Path(__file__).resolve().parents[2]
# The tests' own project (tests/project): its infra/__main__.py, Pulumi stacks and spec.
PROJECT = ROOT / "tests" / "project"
PROJECT_NUMBER = "123456789012"
COMPONENT_PREFIX = "dayflow:infra:"
STACK_TYPE = "pulumi:pulumi:Stack"


def _number(text: str) -> int:
    """A stable numeric id for a resource name (GCP gives channels and policies numeric ids)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


class GcpMocks(pulumi.runtime.Mocks):
    """Echo inputs back as state, plus the outputs GCP would compute, derived from the inputs."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        project = state.get("project", "mock-project")
        name = state.get("name", args.name)
        kind = args.typ.split(":")[-1]
        module = args.typ.split(":")[1].split("/")[0]
        rid = f"{args.name}-id"
        if args.typ == "gcp:serviceaccount/account:Account":
            email = f"{state['accountId']}@{project}.iam.gserviceaccount.com"
            rid = f"projects/{project}/serviceAccounts/{email}"
            state |= {"email": email, "member": f"serviceAccount:{email}", "name": rid}
            state["uniqueId"] = str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16))
        elif args.typ == "gcp:cloudrunv2/service:Service":
            state["uri"] = f"https://{name}-x7q2m3-lz.a.run.app"
            state["urls"] = [state["uri"]]
        elif args.typ == "gcp:cloudfunctionsv2/function:Function":
            state["url"] = f"https://{state['location']}-{project}.cloudfunctions.net/{name}"
            state["serviceConfig"] = {
                **state.get("serviceConfig", {}),
                "uri": f"https://{name}-x7q2m3-lz.a.run.app",
                "service": f"projects/{project}/locations/{state['location']}/services/{name}",
            }
        elif module == "pubsub" and kind in ("Topic", "Subscription"):
            rid = f"projects/{project}/{kind.lower()}s/{name}"
        elif args.typ == "gcp:bigquery/dataset:Dataset":
            rid = f"projects/{project}/datasets/{state['datasetId']}"
        elif args.typ == "gcp:bigquery/table:Table":
            rid = f"projects/{project}/datasets/{state['datasetId']}/tables/{state['tableId']}"
        elif args.typ == "gcp:artifactregistry/repository:Repository":
            state["name"] = state["repositoryId"]
            rid = f"projects/{project}/locations/{state['location']}/repositories/{state['name']}"
        elif args.typ == "gcp:secretmanager/secret:Secret":
            rid = f"projects/{PROJECT_NUMBER}/secrets/{state['secretId']}"
            state["name"] = rid
        elif args.typ == "gcp:secretmanager/secretVersion:SecretVersion":
            rid = f"{state['secret']}/versions/1"
            state["name"] = rid
        elif args.typ == "gcp:storage/bucket:Bucket":
            state["url"] = f"gs://{name}"
        elif args.typ == "gcp:storage/bucketObject:BucketObject":
            state["md5hash"] = "bW9jaw=="
        elif args.typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            # service-<number>@gcp-sa-<api>.iam.gserviceaccount.com: the agent's documented form.
            agent = state["service"].split(".")[0]
            email = f"service-{PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
            state |= {"email": email, "member": f"serviceAccount:{email}"}
            rid = f"projects/{project}/services/{state['service']}"
        elif args.typ == "gcp:monitoring/notificationChannel:NotificationChannel":
            rid = f"projects/{project}/notificationChannels/{_number(args.name)}"
            state["name"] = rid
        elif args.typ == "gcp:monitoring/alertPolicy:AlertPolicy":
            rid = f"projects/{project}/alertPolicies/{_number(args.name)}"
            state["name"] = rid
        elif args.typ == "gcp:projects/service:Service":
            rid = f"{project}/{state['service']}"
        elif args.typ == "gcp:workflows/workflow:Workflow":
            rid = f"projects/{project}/locations/{state['region']}/workflows/{name}"
        elif not args.custom:
            rid = ""  # component resources have no id
        return rid, state

    # The SDK annotates (dict, failures), but the mock monitor of pulumi 3.272 wants a dict.
    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId", "mock-project")
            return {"number": PROJECT_NUMBER, "projectId": project, "name": project}
        if args.token == "gcp:cloudrunv2/getService:getService":  # a service the domain deployed
            name = args.args["name"]
            uri = f"https://{name}-{PROJECT_NUMBER}.{args.args['location']}.run.app"
            return {"name": name, "uri": uri, "urls": [uri], "project": args.args["project"]}
        raise NotImplementedError(f"unmocked invoke {args.token}")


class RecordingMonitor(MockMonitor):
    """The mock engine, also recording each resource's dependencies (explicit and implicit).

    `dependencies` of a RegisterResource request hold the URNs the SDK resolved from
    `depends_on` and from every input that is another resource's output.
    """

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, frozenset[str]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.dependencies[response.urn] = frozenset(request.dependencies)
        return response


@dataclass(frozen=True)
class Arguments:
    """What the program passed to one resource's constructor: Python names, raw values."""

    resource_class: type
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Registered:
    """One registered resource: its URN parts and its state (inputs + mocked outputs)."""

    urn: str
    type: str
    parent_type: str
    name: str
    state: Mapping[str, Any]

    @classmethod
    def from_urn(cls, urn: str, state: Mapping[str, Any]) -> Registered:
        # urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>
        _, _, qualified, name = urn.split("::", 3)
        parent_type, _, typ = qualified.rpartition("$")
        return cls(urn, typ, parent_type, name, state)

    @property
    def is_component(self) -> bool:
        return self.type.startswith(COMPONENT_PREFIX)


@dataclass
class Deployment:
    """What one run of the program registered."""

    resources: list[Registered] = field(default_factory=list)
    # URN -> URNs it depends on directly.
    dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Constructor arguments of every resource, as the program passed them.
    arguments: list[Arguments] = field(default_factory=list)

    def get_all_dependencies(self, resource: Registered) -> set[str]:
        """URNs `resource` waits for, directly or through other resources (transitively)."""
        seen: set[str] = set()
        todo = list(self.dependencies.get(resource.urn, ()))
        while todo:
            urn = todo.pop()
            if urn not in seen:
                seen.add(urn)
                todo.extend(self.dependencies.get(urn, ()))
        return seen

    def __iter__(self) -> Iterator[Registered]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, name: str) -> Registered:
        found = [r for r in self.of_type(typ) if r.name == name]
        if len(found) != 1:
            names = sorted(r.name for r in self.of_type(typ))
            raise AssertionError(
                f"expected one {typ} named {name!r}, found {len(found)} in {names}"
            )
        return found[0]

    def by_state(self, typ: str, **expected: Any) -> list[Registered]:
        return [
            r for r in self.of_type(typ) if all(r.state.get(k) == v for k, v in expected.items())
        ]


# `deploy(stack, secrets=(), **overrides)`, the fixture of conftest.py.
Deploy = Callable[..., Deployment]


def read_stack_config(stack: str, project_dir: Path = PROJECT) -> dict[str, Any]:
    """The `config:` of `<project_dir>/Pulumi.<stack>.yaml`, as typed YAML values."""
    raw = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text())
    return dict(raw.get("config") or {})


def _as_config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def run_program(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    secrets: tuple[str, ...] = (),
    project_dir: Path = PROJECT,
) -> Deployment:
    """Run `<project_dir>/infra/__main__.py` as stack `stack`, with `Pulumi.<stack>.yaml` plus
    `overrides` (the tests project by default).

    Override keys without a namespace are in the project's namespace (`dayflow:`); a value of
    None removes the key. Keys in `secrets` are read back as Pulumi secrets.
    """
    config = read_stack_config(stack, project_dir)
    main = project_dir / "infra" / "__main__.py"
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"dayflow:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    secret_keys = [k if ":" in k else f"dayflow:{k}" for k in secrets]
    # Config keys live in the Pulumi project's namespace (`dayflow:` for the tests project, the
    # domain for a scaffolded project).
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"]
    return run_under_mocks(
        lambda: runpy.run_path(str(main), run_name="__main__"),
        stack,
        config,
        secret_keys,
        project=project,
    )


def run_under_mocks(
    body: Callable[[], object],
    stack: str = "dev",
    config: Mapping[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    project: str = "dayflow",
) -> Deployment:
    """Run `body` as Pulumi project `project` on a fresh mock engine; return what it registered."""
    mocks = GcpMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {k: _as_config_string(v) for k, v in (config or {}).items()}, secret_keys=secret_keys
    )
    arguments: list[Arguments] = []

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        # A stack transformation sees each constructor's props before serialization: nested
        # dicts keep the keys the program wrote (the engine would only see camelCase).
        arguments.append(Arguments(type(args.resource), args.name, dict(args.props)))

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        pulumi.runtime.register_stack_transformation(record)
        body()

    program()
    registered = monitor.get_registered_resources()
    return Deployment(
        [Registered.from_urn(urn, reg.state) for urn, reg in registered.items()],
        dict(monitor.dependencies),
        arguments,
    )


# --- fixture files -----------------------------------------------------------------------------

FIXTURE_WORKFLOWS = {
    "run_partition.workflows.yaml": """\
        # Fixture: runs one partition of a pipeline through the job-runner.
        main:
          params: [args]
          steps:
            - call_job_runner:
                call: http.post
                args:
                  url: ${sys.get_env("JOB_RUNNER_URL") + "/runs"}
                  auth: {type: OIDC}
                  body: ${args}
                result: response
            - return_result:
                return: ${response.body}
        """,
    "backfill.workflows.yaml": """\
        # Fixture: fans a backfill out into run_partition executions.
        main:
          params: [args]
          steps:
            - start_partition:
                call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
                args:
                  workflow_id: run_partition
                  argument: ${args}
                result: execution
            - return_result:
                return: ${execution}
        """,
}

FIXTURE_FUNCTION = {
    "main.py": """\
        import functions_framework


        @functions_framework.cloud_event
        def ingest_event(cloud_event):
            return None
        """,
    "requirements.txt": "functions-framework==3.10.2\n",
}


def write_files(folder: Path, files: Mapping[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def get_workflows_dir(tmp: Path) -> Path:
    """The repo's `workflows/` once it holds `run_partition`, else a fixture folder."""
    real = package_files.get_workflows_dir()
    if (real / "run_partition.workflows.yaml").is_file():
        return real
    return write_files(tmp / "workflows", FIXTURE_WORKFLOWS)


def get_function_dir(tmp: Path) -> Path:
    """The repo's `functions/ingest_events` once it has a main.py, else a fixture folder."""
    real = package_files.get_ingest_function_dir()
    if (real / "main.py").is_file():
        return real
    return write_files(tmp / "functions" / "ingest_events", FIXTURE_FUNCTION)


class T:
    """Type tokens of the resources the tests look at."""

    ACCOUNT = "gcp:serviceaccount/account:Account"
    ACCOUNT_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
    PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
    DATASET = "gcp:bigquery/dataset:Dataset"
    DATASET_IAM = "gcp:bigquery/datasetIamMember:DatasetIamMember"
    TABLE = "gcp:bigquery/table:Table"
    TABLE_IAM = "gcp:bigquery/iamMember:IamMember"
    SERVICE = "gcp:cloudrunv2/service:Service"
    SERVICE_IAM = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
    WORKFLOW = "gcp:workflows/workflow:Workflow"
    SCHEDULE = "gcp:cloudscheduler/job:Job"
    FUNCTION = "gcp:cloudfunctionsv2/function:Function"
    TOPIC = "gcp:pubsub/topic:Topic"
    TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
    SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
    SUBSCRIPTION_IAM = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
    BUCKET_OBJECT = "gcp:storage/bucketObject:BucketObject"
    REPOSITORY = "gcp:dataform/repository:Repository"
    REPOSITORY_IAM = "gcp:dataform/repositoryIamMember:RepositoryIamMember"
    SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
    SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
    API = "gcp:projects/service:Service"
    AGENT = "gcp:projects/serviceIdentity:ServiceIdentity"
