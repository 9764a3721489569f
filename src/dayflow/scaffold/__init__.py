"""`dayflow init`: write a new domain's project from the templates in `scaffold/template/`.

Files ending in `.tmpl` are `string.Template`s (`$domain`, `$domain_kebab`, `$dayflow_version`;
a literal `$` is written `$$`) and lose that suffix; every other file is copied as it is. A file
named `dot-NAME` is written as `.NAME` (a wheel keeps such files either way; the name keeps them
visible next to the others).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from string import Template

from dayflow.errors import UserError
from dayflow.package_files import get_scaffold_dir

TEMPLATE_SUFFIX = ".tmpl"
_DOT_PREFIX = "dot-"
# The domain names datasets, labels, the Pulumi project and, in kebab case, GCP projects
# (`<domain>-prod` must fit GCP's 30-character project id) and service accounts.
DOMAIN_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,23}[a-z0-9]")
DOMAIN_RULE = (
    "2 to 25 characters: lowercase letters, digits and '_', starting with a letter and not "
    "ending with '_'"
)


@dataclass(frozen=True)
class Scaffold:
    """What `create_project` wrote."""

    project_dir: Path
    domain: str
    dayflow_version: str
    files: tuple[Path, ...]

    @property
    def pipeline_name(self) -> str:
        """The one pipeline of the scaffolded spec."""
        return get_pipeline_name(self.domain)


def get_pipeline_name(domain: str) -> str:
    return f"{domain}_daily"


def get_dayflow_version() -> str:
    """The installed dayflow's version: what the project's requirements.txt pins."""
    try:
        return version("dayflow")
    except PackageNotFoundError as err:  # running from a source tree that was never installed
        raise UserError(
            "dayflow is not installed, so its version is unknown "
            "(expected `pip install dayflow` or an editable install)"
        ) from err


def normalize_domain(name: str) -> str:
    """A directory name as a domain name: lower case, '-', '.' and spaces as '_'."""
    return re.sub(r"[-. ]+", "_", name.strip().lower())


def check_domain(domain: str, *, from_directory: str | None = None) -> str:
    """`domain` if it is a valid domain name; else a `UserError` naming it and the rule."""
    if DOMAIN_PATTERN.fullmatch(domain):
        return domain
    if from_directory is None:
        raise UserError(f"--domain {domain!r} is not a valid domain name (expected {DOMAIN_RULE})")
    raise UserError(
        f"directory name {from_directory!r} gives domain {domain!r}, which is not a valid domain "
        f"name (expected {DOMAIN_RULE}; or name the domain with --domain)"
    )


def create_project(project_dir: Path, domain: str | None = None) -> Scaffold:
    """Write a new project into `project_dir` (missing or empty) for `domain`.

    Without `domain`, the directory's name, normalised (`Smart-Meters` -> `smart_meters`), is the
    domain. Raises `UserError` for a non-empty directory or an invalid domain name, before
    writing anything.
    """
    if domain is None:
        name = project_dir.resolve().name
        domain = check_domain(normalize_domain(name), from_directory=name)
    else:
        check_domain(domain)
    if project_dir.exists() and not project_dir.is_dir():
        raise UserError(f"{project_dir} is a file (expected a new or empty directory)")
    if project_dir.is_dir() and any(project_dir.iterdir()):
        raise UserError(f"{project_dir} is not empty (expected a new or empty directory)")
    dayflow_version = get_dayflow_version()
    values = {
        "domain": domain,
        "domain_kebab": domain.replace("_", "-"),
        "dayflow_version": dayflow_version,
        "pipeline": get_pipeline_name(domain),
    }
    template_dir = get_scaffold_dir()
    written = []
    for source in sorted(p for p in template_dir.rglob("*") if p.is_file()):
        relative = source.relative_to(template_dir)
        if "__pycache__" in relative.parts:
            continue
        target = project_dir / _get_target_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.name.endswith(TEMPLATE_SUFFIX):
            # substitute(): a placeholder missing from `values` is a bug in a template, not input.
            target.write_text(Template(source.read_text()).substitute(values))
        else:
            target.write_bytes(source.read_bytes())
        written.append(target)
    return Scaffold(project_dir, domain, dayflow_version, tuple(written))


def _get_target_path(relative: Path) -> Path:
    parts = [
        "." + part.removeprefix(_DOT_PREFIX) if part.startswith(_DOT_PREFIX) else part
        for part in relative.parts
    ]
    parts[-1] = parts[-1].removesuffix(TEMPLATE_SUFFIX)
    return Path(*parts)
