"""The job-runner image (services/job_runner/Dockerfile).

Static checks of the Dockerfile always run: pinned base images, Python packages only from the
runtime lock with hashes, Node.js and each Dataform project's pinned CLI and core for the spec's
CLI-mode Dataform jobs, a non-root user, a build context that holds what the Dockerfile copies.
Where a Docker engine runs, `test_built_image_...` builds the image and checks its contents.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.test_lock import read_lock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "shop"
DOCKERFILE = ROOT / "services" / "job_runner" / "Dockerfile"
PROJECTS_FILE = "/tmp/dataform-projects.txt"


@dataclass
class Instruction:
    keyword: str
    args: str
    heredoc: str | None = None


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages and their instructions: continuation lines joined, RUN here-documents attached."""
    lines = text.splitlines()
    stages: list[Stage] = []
    i = 0
    while i < len(lines):
        logical = lines[i].strip()
        i += 1
        if not logical or logical.startswith("#"):
            continue
        while logical.endswith("\\"):
            logical = logical[:-1].rstrip() + " " + lines[i].strip()
            i += 1
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        heredoc = None
        marker = re.search(r"<<-?'?\"?(\w+)", args) if keyword == "RUN" else None
        if marker:
            end = lines.index(marker.group(1), i)
            heredoc, i = "\n".join(lines[i:end]) + "\n", end + 1
        if keyword == "FROM":
            image, _, name = args.partition(" AS ")
            stages.append(Stage(image.strip(), name.strip() or None))
        else:
            stages[-1].instructions.append(Instruction(keyword, args, heredoc))
    return stages


STAGES = parse_dockerfile(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def stage_named(name: str) -> Stage:
    return next(s for s in STAGES if s.name == name)


def node_stage() -> Stage:
    (stage,) = [s for s in STAGES if s.image.startswith("node:")]
    return stage


def test_base_images_are_exact_releases_never_latest_or_floating() -> None:
    names = {s.name for s in STAGES}
    images = [s.image for s in STAGES if s.image not in names]
    assert images, "no base image found"
    for image in images:
        # name:MAJOR.MINOR.PATCH-variant, optionally @sha256:digest
        assert re.fullmatch(r"[a-z0-9./-]+:\d+\.\d+\.\d+-[a-z-]+(@sha256:[0-9a-f]{64})?", image), (
            f"{image} is not pinned to an exact release"
        )
        assert "latest" not in image


def test_build_and_runtime_stages_share_one_python_image() -> None:
    # /opt/venv points at the interpreter of the stage that built it.
    assert stage_named("build").image == FINAL.image
    assert FINAL.image.startswith("python:3.13.")


def test_node_comes_from_a_node_stage_on_the_same_debian_release_and_runs_in_the_final_image() -> (
    None
):
    node = node_stage()
    debian = FINAL.image.rsplit("-", 1)[-1]
    assert node.image.endswith(f"-{debian}-slim") or node.image.endswith(f"-{debian}")
    copies = [c.args.split() for c in FINAL.all("COPY")]
    assert ["--from=" + str(node.name), "/usr/local/bin/node", "/usr/local/bin/node"] in copies
    # The build fails if the copied binary lacks a shared library in the final image.
    assert any(r.args.strip() == "node --version" for r in FINAL.all("RUN"))


def test_python_packages_come_only_from_the_runtime_lock_with_hashes() -> None:
    build = stage_named("build")
    assert any(
        c.args.split() == ["locks/runtime.txt", "locks/runtime.txt"] for c in build.all("COPY")
    )
    installs = [r.args for s in STAGES for r in s.all("RUN") if "pip install" in r.args]
    from_lock = [a for a in installs if "--require-hashes -r locks/runtime.txt" in a]
    assert len(from_lock) == 1
    # Any other install adds the project itself, without resolving anything beyond the lock.
    assert all("--no-deps" in a for a in installs if a not in from_lock)


def test_each_listed_dataform_project_gets_npm_ci_in_the_node_stage() -> None:
    lister = [r for r in stage_named("build").all("RUN") if r.heredoc and PROJECTS_FILE in r.args]
    assert len(lister) == 1, "the build stage lists the spec's Dataform projects"
    node = node_stage()
    assert any(c.args.split()[1:] == [PROJECTS_FILE, PROJECTS_FILE] for c in node.all("COPY"))
    (install,) = [r.args for r in node.all("RUN") if "npm ci" in r.args]
    assert f"< {PROJECTS_FILE}" in install and 'npm ci --prefix "/app/$dir"' in install
    # The final image takes /app, with node_modules, from the node stage.
    assert any(c.args.split() == [f"--from={node.name}", "/app", "/app"] for c in FINAL.all("COPY"))


def test_runtime_user_is_not_root() -> None:
    users = FINAL.all("USER")
    assert users, "the final stage sets no USER (it would run as root)"
    assert users[-1].args.split(":")[0] not in {"root", "0"}


# --- the spec decides which Dataform projects the image carries ---------------------------------


def lister_script() -> str:
    (run,) = [r for r in stage_named("build").all("RUN") if r.heredoc and PROJECTS_FILE in r.args]
    assert run.heredoc is not None
    return run.heredoc


def list_projects(app: Path) -> subprocess.CompletedProcess[str]:
    """Run the Dockerfile's own listing script on a project laid out like /app."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-", str(app)],
        input=lister_script(),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def dataform_project(path: Path, *, lock: bool = True) -> None:
    path.mkdir(parents=True)
    for name in ("package.json", "workflow_settings.yaml") + (
        ("package-lock.json",) if lock else ()
    ):
        shutil.copy(EXAMPLE / "transform" / "dataform" / name, path / name)


def write_spec(app: Path, jobs: dict[str, dict[str, object]]) -> None:
    spec = {
        "version": 1,
        "name": "shop",
        "environments": {"local": {"gcp_project": "local"}},
        "pipelines": {
            "daily": {
                "granularity": "day",
                "timezone": "UTC",
                "schedule": "0 2 * * *",
                "start": "2024-01-01",
                "jobs": jobs,
            }
        },
    }
    (app / "dayflow.yaml").write_text(yaml.safe_dump(spec))


def test_listing_names_the_projects_of_cli_mode_dataform_jobs_only(tmp_path: Path) -> None:
    dataform_project(tmp_path / "transform" / "dataform")
    dataform_project(tmp_path / "transform" / "managed", lock=False)
    write_spec(
        tmp_path,
        {
            "mart": {"kind": "dataform", "project_dir": "transform/dataform", "tags": ["a"]},
            "mart_again": {"kind": "dataform", "project_dir": "./transform/dataform"},
            "managed": {
                "kind": "dataform",
                "project_dir": "transform/managed",
                "managed": {"repository": "shop"},
            },
        },
    )
    result = list_projects(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["transform/dataform"]


def test_listing_of_the_example_spec_matches_its_cli_mode_dataform_jobs() -> None:
    from dayflow.spec import DataformJob, load_spec

    spec = load_spec(EXAMPLE / "dayflow.yaml")
    expected = sorted(
        {
            job.project_dir.removeprefix("./")
            for pipeline in spec.pipelines.values()
            for job in pipeline.jobs.values()
            if isinstance(job, DataformJob) and job.managed is None
        }
    )
    result = list_projects(EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_listing_fails_the_build_on_a_project_without_package_lock(tmp_path: Path) -> None:
    dataform_project(tmp_path / "transform" / "dataform", lock=False)
    write_spec(tmp_path, {"mart": {"kind": "dataform", "project_dir": "transform/dataform"}})
    result = list_projects(tmp_path)
    assert result.returncode != 0
    assert "job daily.mart: Dataform project_dir 'transform/dataform' has no package-lock.json" in (
        result.stderr
    )


def test_listing_fails_the_build_on_a_project_outside_the_image(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    dataform_project(tmp_path / "elsewhere")
    write_spec(app, {"mart": {"kind": "dataform", "project_dir": "../elsewhere"}})
    result = list_projects(app)
    assert result.returncode != 0
    assert "'../elsewhere' is outside the image's /app" in result.stderr


# --- the build context ---------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes `path` or a directory above it (no `!` patterns here)."""
    assert not any(p.startswith("!") for p in patterns)
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
        or fnmatch.fnmatch(prefix, pattern)
        or (pattern.startswith("**/") and fnmatch.fnmatch(prefix.rsplit("/", 1)[-1], pattern[3:]))
        for prefix in prefixes
        for pattern in patterns
    )


def test_build_context_keeps_every_file_the_dockerfile_copies_and_drops_local_state() -> None:
    patterns = dockerignore_patterns()
    sources = [
        source
        for stage in STAGES
        for copy in stage.all("COPY")
        if not copy.args.startswith("--from=")
        for source in copy.args.split()[:-1]
    ]
    assert "locks/runtime.txt" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not is_ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for local_state in (
        ".venv",
        ".git",
        "transform/dataform/node_modules",
        "src/dayflow/__pycache__",
    ):
        assert is_ignored(local_state, patterns), local_state


# --- the built image, where Docker runs ----------------------------------------------------------


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
def test_built_image_runs_the_pinned_dataform_cli_as_non_root_with_the_locked_packages(
    tmp_path: Path,
) -> None:
    context = tmp_path / "context"
    shutil.copytree(
        ROOT,
        context,
        ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", ".dayflow", "*_cache"),
    )
    # The example spec plus a CLI-mode Dataform job on the example project.
    spec = yaml.safe_load((EXAMPLE / "dayflow.yaml").read_text())
    pipeline = next(iter(spec["pipelines"].values()))
    pipeline["jobs"]["image_check_dataform"] = {
        "kind": "dataform",
        "project_dir": "transform/dataform",
    }
    (context / "dayflow.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    tag = f"dayflow-job-runner-test:{uuid.uuid4().hex[:12]}"
    dockerfile = context / "services" / "job_runner" / "Dockerfile"
    subprocess.run(["docker", "build", "-q", "-f", dockerfile, "-t", tag, context], check=True)
    try:
        project = "/app/transform/dataform"
        lock = json.loads((EXAMPLE / "transform" / "dataform" / "package-lock.json").read_text())
        script = f"""
            set -e
            id -u
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
            ["docker", "run", "--rm", "--entrypoint", "sh", tag, "-c", script],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        uid, node, cli, core, tables, *freeze = out
        assert uid == "10001"
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
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
