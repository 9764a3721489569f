"""Reading Dockerfiles and .dockerignore files for static checks (no Docker engine needed).

The images: the toolkit image (services/job_runner/Dockerfile, context = the repository root)
and each project's image (examples/<project>/Dockerfile, context = the project's folder).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLKIT_DOCKERFILE = ROOT / "services" / "job_runner" / "Dockerfile"
PROJECT_DOCKERFILES = sorted((ROOT / "examples").glob("*/Dockerfile"))


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

    def get_env(self) -> dict[str, str]:
        """ENV KEY=VALUE pairs of this stage (the `KEY=VALUE ...` form only)."""
        pairs = (p.partition("=") for e in self.all("ENV") for p in e.args.split())
        return {key: value for key, _, value in pairs}


@dataclass
class Dockerfile:
    # ARGs declared before the first FROM, with their defaults ("" when none).
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage_named(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def get_copy_sources(self) -> list[str]:
        """Build-context paths that COPY instructions read (not those copied from stages)."""
        return [
            source
            for stage in self.stages
            for copy in stage.all("COPY")
            if not copy.args.startswith("--from=")
            for source in copy.args.split()[:-1]
        ]


def parse_dockerfile(path: Path) -> Dockerfile:
    """Stages and their instructions: continuation lines joined, RUN here-documents attached."""
    lines = path.read_text().splitlines()
    global_args: dict[str, str] = {}
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
        elif keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip()
        else:
            stages[-1].instructions.append(Instruction(keyword, args, heredoc))
    return Dockerfile(global_args, stages)


def read_dockerignore(context: Path) -> list[str]:
    lines = (context / ".dockerignore").read_text().splitlines()
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
