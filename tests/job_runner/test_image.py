"""The images: the toolkit image (services/job_runner/Dockerfile) and each project's image on it
(examples/<project>/Dockerfile, and the Dockerfile that `dayflow init` scaffolds).

Static checks of both Dockerfiles always run: pinned base images; Python packages only from the
runtime lock with hashes plus the wheel of this commit; Node.js and npm in the toolkit image and
no project in it; a project image that names the toolkit image by a build arg, puts its spec where
JOB_RUNNER_SPEC_PATH says, prepares it with `dayflow image prepare` and runs as the toolkit's
non-root user; build contexts that hold what each Dockerfile copies. What `dayflow image prepare`
does is tested in tests/test_project_image.py. Where a Docker engine runs,
`test_built_images_...` builds both images and checks their contents.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml

from dayflow.project_image import APP_DIR
from dayflow.spec import BigQuerySqlJob, DataformJob, DbtJob, load_spec
from tests.dockerfiles import (
    PROJECT_DOCKERFILES,
    ROOT,
    TOOLKIT_DOCKERFILE,
    Dockerfile,
    is_ignored,
    parse_dockerfile,
    read_dockerignore,
)
from tests.test_lock import read_lock

TOOLKIT = parse_dockerfile(TOOLKIT_DOCKERFILE)
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
LOCAL_STATE = (
    ".venv",
    ".dayflow",
    "transform/dataform/node_modules",
    "transform/dataform/.df-credentials.json",
    "transform/dbt/target",
    "src/dayflow/__pycache__",
)

PROJECTS = [*(p.parent.name for p in PROJECT_DOCKERFILES), "scaffold"]


@pytest.fixture(scope="module", params=PROJECTS)
def dockerfile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project's Dockerfile: an example's, or that of a project `dayflow init` writes."""
    if request.param != "scaffold":
        return ROOT / "examples" / request.param / "Dockerfile"
    from dayflow.scaffold import create_project

    project = create_project(tmp_path_factory.mktemp("scaffold") / "meters")
    return project.project_dir / "Dockerfile"


def test_every_example_project_has_a_dockerfile() -> None:
    assert [p.parent.name for p in PROJECT_DOCKERFILES] == sorted(
        p.parent.name for p in (ROOT / "examples").glob("*/dayflow.yaml")
    )
    assert PROJECT_DOCKERFILES


# --- the toolkit image ---------------------------------------------------------------------------


def node_stage() -> tuple[str, str]:
    (stage,) = [s for s in TOOLKIT.stages if s.image.startswith("node:")]
    assert stage.name is not None
    return stage.name, stage.image


def test_toolkit_base_images_are_exact_releases_never_latest_or_floating() -> None:
    names = {s.name for s in TOOLKIT.stages}
    images = [s.image for s in TOOLKIT.stages if s.image not in names]
    assert images, "no base image found"
    for image in images:
        # name:MAJOR.MINOR.PATCH-variant, optionally @sha256:digest
        assert re.fullmatch(r"[a-z0-9./-]+:\d+\.\d+\.\d+-[a-z-]+(@sha256:[0-9a-f]{64})?", image), (
            f"{image} is not pinned to an exact release"
        )
        assert "latest" not in image


def test_toolkit_build_and_runtime_stages_share_one_python_image() -> None:
    # /opt/venv points at the interpreter of the stage that built it.
    assert TOOLKIT.stage_named("build").image == TOOLKIT.final.image
    assert TOOLKIT.final.image.startswith("python:3.13.")


def test_toolkit_node_and_npm_come_from_a_node_stage_on_the_same_debian_and_run_in_it() -> None:
    name, image = node_stage()
    debian = TOOLKIT.final.image.rsplit("-", 1)[-1]
    assert image.endswith(f"-{debian}-slim") or image.endswith(f"-{debian}")
    copies = [c.args.split() for c in TOOLKIT.final.all("COPY")]
    assert [f"--from={name}", "/usr/local/bin/node", "/usr/local/bin/node"] in copies
    npm = "/usr/local/lib/node_modules/npm"
    assert [f"--from={name}", npm, npm] in copies
    # The build fails if the copied binaries lack a shared library or npm its launcher.
    runs = " && ".join(r.args for r in TOOLKIT.final.all("RUN"))
    assert "node --version" in runs and "npm --version" in runs
    assert "ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm" in runs


def test_toolkit_python_packages_come_only_from_the_runtime_lock_and_the_wheel() -> None:
    build = TOOLKIT.stage_named("build")
    assert any(
        c.args.split() == ["locks/runtime.txt", "locks/runtime.txt"] for c in build.all("COPY")
    )
    installs = [r.args for s in TOOLKIT.stages for r in s.all("RUN") if "pip install" in r.args]
    from_lock = [a for a in installs if "pip install --require-hashes -r locks/runtime.txt" in a]
    assert len(from_lock) == 1
    (wheel,) = [a for a in installs if a not in from_lock]
    # The wheel of this commit, as `pip install dayflow` installs it, resolving nothing more.
    assert "pip wheel --no-deps --wheel-dir /tmp/wheels ." in wheel
    assert "pip install --no-deps /tmp/wheels/dayflow-*.whl" in wheel
    assert "dayflow image --help" in wheel  # the CLI a project image runs is installed


def test_toolkit_image_holds_no_project() -> None:
    sources = TOOLKIT.get_copy_sources()
    assert sorted(sources) == sorted(
        ["locks/runtime.txt", "pyproject.toml", "README.md", "src/", "services/"]
    )
    for stage in TOOLKIT.stages:
        assert "JOB_RUNNER_SPEC_PATH" not in stage.get_env()
        assert not any("image prepare" in r.args for r in stage.all("RUN"))


def test_toolkit_runtime_user_is_not_root() -> None:
    users = TOOLKIT.final.all("USER")
    assert users, "the final stage sets no USER (it would run as root)"
    assert users[-1].args.split(":")[0] not in {"root", "0"}


def test_make_image_tags_the_toolkit_image_with_the_package_version() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "TOOLKIT_IMAGE := dayflow-job-runner:$(VERSION)" in makefile
    assert "docker build -f services/job_runner/Dockerfile -t $(TOOLKIT_IMAGE) ." in makefile
    version = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            "--eval=print-version: ; @echo $(VERSION)",
            "print-version",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == VERSION


# --- each project's image ------------------------------------------------------------------------


def spec_path_in_image(project: Dockerfile) -> str:
    return project.final.get_env()["JOB_RUNNER_SPEC_PATH"]


def test_project_image_builds_on_the_toolkit_image_named_by_a_build_arg(dockerfile: Path) -> None:
    project = parse_dockerfile(dockerfile)
    assert [s.image for s in project.stages] == ["${DAYFLOW_IMAGE}"]
    assert "--build-arg DAYFLOW_IMAGE=" in dockerfile.read_text()  # the header says how to pin
    if dockerfile.parent.parent == ROOT / "examples":
        # In this repository, without --build-arg: the tag `make image` gives this version.
        assert project.global_args == {"DAYFLOW_IMAGE": f"dayflow-job-runner:{VERSION}"}
    else:
        # A project elsewhere names the toolkit image it pulls (docker refuses a blank FROM).
        assert project.global_args == {"DAYFLOW_IMAGE": ""}


def test_project_image_puts_its_spec_where_job_runner_spec_path_says_and_prepares_it(
    dockerfile: Path,
) -> None:
    project = parse_dockerfile(dockerfile)
    spec_path = spec_path_in_image(project)
    assert spec_path == f"{APP_DIR}/dayflow.yaml"
    assert ["dayflow.yaml", spec_path] in [c.args.split() for c in project.final.all("COPY")]
    (prepare,) = [r.args for r in project.final.all("RUN") if "dayflow image" in r.args]
    assert prepare == f"dayflow image prepare {spec_path}"
    for copy in project.final.all("COPY"):
        assert copy.args.split()[-1].startswith(f"{APP_DIR}/"), copy.args


def test_project_image_prepares_as_root_and_runs_as_the_toolkit_user(dockerfile: Path) -> None:
    project = parse_dockerfile(dockerfile)
    keywords = [(i.keyword, i.args) for i in project.final.instructions]
    users = [args for keyword, args in keywords if keyword == "USER"]
    assert users == ["root", TOOLKIT.final.all("USER")[-1].args]
    prepare = next(n for n, (k, a) in enumerate(keywords) if k == "RUN" and "prepare" in a)
    assert keywords.index(("USER", "root")) < prepare < keywords.index(("USER", users[-1]))
    assert project.final.instructions[-1].keyword == "USER"


def test_project_image_copies_every_file_its_spec_names(dockerfile: Path) -> None:
    project = parse_dockerfile(dockerfile)
    spec = load_spec(dockerfile.parent / "dayflow.yaml")
    copied = [s.rstrip("/") for s in project.get_copy_sources()]
    named = [
        path
        for pipeline in spec.pipelines.values()
        for job in pipeline.jobs.values()
        for path in (
            [job.sql]
            if isinstance(job, BigQuerySqlJob)
            else [job.project_dir]
            if isinstance(job, DbtJob | DataformJob)
            else []
        )
    ] + [
        table.seed
        for source in spec.sources.values()
        for table in source.tables.values()
        if table.seed is not None
    ]
    assert named
    for path in named:
        path = Path(path).as_posix().removeprefix("./")
        assert any(path == c or path.startswith(f"{c}/") for c in copied), path


# --- the build contexts --------------------------------------------------------------------------


def check_context(dockerfile: Dockerfile, context: Path) -> None:
    patterns = read_dockerignore(context)
    for source in dockerfile.get_copy_sources():
        assert (context / source).exists(), f"COPY {source}: not in {context}"
        assert not is_ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for local_state in LOCAL_STATE:
        assert is_ignored(local_state, patterns), local_state


def test_toolkit_build_context_keeps_what_it_copies_and_drops_projects_and_local_state() -> None:
    check_context(TOOLKIT, ROOT)
    patterns = read_dockerignore(ROOT)
    for unused in ("examples/shop/dayflow.yaml", "tests", "bench", ".git", "locks/all.txt"):
        assert is_ignored(unused, patterns), unused


def test_project_build_context_keeps_what_it_copies_and_drops_local_state(
    dockerfile: Path,
) -> None:
    check_context(parse_dockerfile(dockerfile), dockerfile.parent)
    assert is_ignored("infra", read_dockerignore(dockerfile.parent))


# --- the built images, where Docker runs ---------------------------------------------------------


def docker_engine_runs() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def lock_versions_on_linux(path: Path) -> dict[str, str]:
    linux = {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.13"}
    return {
        name: str(pin.version)
        for name, pin in read_lock(path).items()
        if pin.marker is None or pin.marker.evaluate(linux)
    }


@pytest.mark.skipif(
    not docker_engine_runs(), reason="no Docker engine runs here (docker info fails)"
)
def test_built_images_run_the_pinned_dataform_cli_as_non_root_with_the_locked_packages(
    tmp_path: Path,
) -> None:
    context = tmp_path / "context"
    shutil.copytree(
        ROOT,
        context,
        ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", ".dayflow", "*_cache"),
    )
    # The example project plus a CLI-mode Dataform job on its Dataform project.
    example = context / "examples" / "shop"
    spec = yaml.safe_load((example / "dayflow.yaml").read_text())
    pipeline = next(iter(spec["pipelines"].values()))
    pipeline["jobs"]["image_check_dataform"] = {
        "kind": "dataform",
        "project_dir": "transform/dataform",
    }
    (example / "dayflow.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    suffix = uuid.uuid4().hex[:12]
    toolkit, shop = f"dayflow-job-runner-test:{suffix}", f"shop-job-runner-test:{suffix}"
    dockerfile = context / "services" / "job_runner" / "Dockerfile"
    try:
        subprocess.run(
            ["docker", "build", "-q", "-f", dockerfile, "-t", toolkit, context], check=True
        )
        subprocess.run(
            [
                "docker",
                "build",
                "-q",
                "--build-arg",
                f"DAYFLOW_IMAGE={toolkit}",
                "-t",
                shop,
                example,
            ],
            check=True,
        )
        empty = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--entrypoint",
                "sh",
                toolkit,
                "-c",
                "id -u; ls -A /app; npm --version",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert empty[0] == "10001" and len(empty) == 2, empty  # no project in the toolkit
        project = "/app/transform/dataform"
        lock = json.loads((example / "transform" / "dataform" / "package-lock.json").read_text())
        script = f"""
            set -e
            id -u
            echo "$JOB_RUNNER_SPEC_PATH"
            node --version
            node -p "require('{project}/node_modules/@dataform/cli/package.json').version"
            node -p "require('{project}/node_modules/@dataform/core/package.json').version"
            {project}/node_modules/.bin/dataform compile {project} --json \
              --vars=partition_key=2024-01-02,partition_start=2024-01-02T00:00:00+00:00,partition_end=2024-01-03T00:00:00+00:00,dataset_prefix=dev_ \
              --default-database=p > /tmp/compiled.json
            python -c "import json; print(len(json.load(open('/tmp/compiled.json'))['tables']))"
            if touch /app/dayflow.yaml 2>/dev/null; then echo "/app is writable"; exit 1; fi
            python -c "import job_runner.main"
            pip freeze --exclude dayflow
        """
        out = subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "sh", shop, "-c", script],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        uid, spec_path, node, cli, core, tables, *freeze = out
        assert uid == "10001"
        assert spec_path == f"{APP_DIR}/dayflow.yaml"
        assert node.startswith("v22.")
        packages = lock["packages"]
        assert cli == packages["node_modules/@dataform/cli"]["version"]
        assert core == packages["node_modules/@dataform/core"]["version"]
        assert int(tables) >= 1
        installed = {
            re.sub(r"[-_.]+", "-", n).lower(): v for n, _, v in (f.partition("==") for f in freeze)
        }
        assert installed == lock_versions_on_linux(ROOT / "locks" / "runtime.txt")
    finally:
        subprocess.run(["docker", "rmi", "-f", shop, toolkit], capture_output=True, check=False)


def instruction_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_shows_the_example_project_dockerfile_as_it_is() -> None:
    (shown,) = re.findall(r"```dockerfile\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    example = (ROOT / "examples" / "shop" / "Dockerfile").read_text()
    assert instruction_lines(shown) == instruction_lines(example)
