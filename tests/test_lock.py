"""The lock files: every declared dependency pinned with hashes, the runtime lock a subset of the
whole one at the same versions, and the version ranges that matter tight enough.

The lock files are requirements files written by `make lock` (uv) and installed by pip with
--require-hashes (Makefile, the toolkit image's Dockerfile, CI).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
ALL_LOCK = ROOT / "locks" / "all.txt"
RUNTIME_LOCK = ROOT / "locks" / "runtime.txt"
UV_LOCK = ROOT / "locks" / "uv.txt"
EXTRAS = ("local", "infra", "dev")
# The environments the lock must serve: Linux (CI, the image) and a macOS laptop, Python 3.13.
ENVIRONMENTS = [
    {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.13"},
    {"sys_platform": "darwin", "platform_system": "Darwin", "python_version": "3.13"},
]


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """The pins of a requirements lock file, by canonical name (continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, Pin] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        hashes = tuple(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line))
        requirement = Requirement(re.sub(r"\s--hash=\S+", "", line).strip())
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{path.name}: {line!r} is not an exact pin"
        pins[canonicalize_name(requirement.name)] = Pin(
            Version(spec.version), requirement.marker, hashes
        )
    return pins


def declared(*extras: str) -> list[Requirement]:
    """The main dependencies of pyproject.toml plus those of the given extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [*project["dependencies"]]
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(r) for r in names]


def test_every_declared_dependency_is_pinned_in_the_lock_at_a_version_pyproject_allows() -> None:
    pins = read_lock(ALL_LOCK)
    stale = []
    for requirement in declared(*EXTRAS):
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None or pin.version not in requirement.specifier:
            found = "missing" if pin is None else f"locked at {pin.version}"
            stale.append(f"{requirement} ({found})")
    assert not stale, f"locks/all.txt is out of date, run `make lock`: {stale}"


@pytest.mark.parametrize("lock", [ALL_LOCK, RUNTIME_LOCK, UV_LOCK], ids=lambda p: p.name)
def test_every_pin_carries_sha256_hashes(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins
    assert [name for name, pin in pins.items() if not pin.hashes] == []


def test_uv_lock_pins_the_uv_version_the_makefile_names() -> None:
    (version,) = re.findall(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), flags=re.M)
    assert read_lock(UV_LOCK).keys() == {"uv"}
    assert str(read_lock(UV_LOCK)["uv"].version) == version


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: e["sys_platform"])
def test_the_lock_is_closed_every_dependency_of_a_pin_is_pinned(
    environment: dict[str, str],
) -> None:
    """pip --require-hashes would refuse a dependency the lock lacks: check it here, per platform,
    from the installed metadata of the shared environment (which the lock describes)."""
    from importlib.metadata import PackageNotFoundError, requires

    pins = read_lock(ALL_LOCK)
    active = {n for n, p in pins.items() if p.marker is None or p.marker.evaluate(environment)}
    missing = []
    for name in sorted(active):
        try:
            dependencies = requires(name) or []
        except PackageNotFoundError:
            continue  # not installed here (another platform's package)
        for raw in dependencies:
            dep = Requirement(raw)
            if dep.marker is not None and not dep.marker.evaluate({**environment, "extra": ""}):
                continue
            if canonicalize_name(dep.name) not in active:
                missing.append(f"{name} needs {dep}")
    assert missing == []


def test_runtime_lock_holds_the_main_dependencies_at_the_versions_of_the_whole_lock() -> None:
    whole, runtime = read_lock(ALL_LOCK), read_lock(RUNTIME_LOCK)
    # Versions and hashes must agree; markers may differ (a package needed on fewer platforms
    # in the runtime subset, e.g. cffi, which only the dev extra's selenium needs on Windows).
    differing = [
        n
        for n, pin in runtime.items()
        if n not in whole or (whole[n].version, whole[n].hashes) != (pin.version, pin.hashes)
    ]
    assert differing == [], "locks/runtime.txt must be compiled against locks/all.txt: make lock"
    names = set(runtime)
    assert {canonicalize_name(r.name) for r in declared()} <= names
    # Development and infra tools stay out of the image.
    assert names.isdisjoint({"pytest", "mypy", "ruff", "pulumi", "pulumi-gcp", "local-bigquery"})


def test_pulumi_gcp_range_refuses_8x_whose_dataset_has_no_deletion_policy() -> None:
    (pulumi_gcp,) = [r for r in declared("infra") if r.name == "pulumi-gcp"]
    assert Version("8.9.0") not in pulumi_gcp.specifier
    assert Version("11.0.0") not in pulumi_gcp.specifier
    assert read_lock(ALL_LOCK)["pulumi-gcp"].version in pulumi_gcp.specifier


def test_schemathesis_and_pytest_xdist_are_in_the_dev_extra_and_locked() -> None:
    dev = {canonicalize_name(r.name) for r in declared("dev")}
    assert {"schemathesis", "pytest-xdist"} <= dev
    assert {"schemathesis", "pytest-xdist"} <= set(read_lock(ALL_LOCK))
