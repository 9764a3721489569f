"""A function's source folder as a Pulumi archive, named by the SHA-256 of its content.

The object name changes exactly when a file's path or bytes change, so an unchanged function is
never rebuilt and a changed one always is. Caches and bytecode are left out of both the archive
and the hash, so running the function's tests locally does not redeploy it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi

_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class SourceArchive:
    folder_name: str
    digest: str  # hex SHA-256 over (relative path, SHA-256 of bytes) of every archived file
    files: tuple[str, ...]  # archived paths, relative to the folder, sorted
    archive: pulumi.AssetArchive

    @property
    def object_name(self) -> str:
        """`<folder>/<first 16 hex digits of the digest>.zip`: 64 bits, ample for one folder."""
        return f"{self.folder_name}/{self.digest[:16]}.zip"


def build_source_archive(folder: Path) -> SourceArchive:
    """Archive every file under `folder` except caches; raise if `main.py` is missing."""
    if not (folder / "main.py").is_file():
        raise FileNotFoundError(f"{folder}: no main.py (expected a Cloud Function source folder)")
    paths = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not _SKIPPED_PARTS.intersection(p.relative_to(folder).parts)
        and p.suffix not in _SKIPPED_SUFFIXES
    )
    digest = hashlib.sha256()
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        digest.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        assets[rel] = pulumi.FileAsset(str(path))
    return SourceArchive(
        folder_name=folder.name,
        digest=digest.hexdigest(),
        files=tuple(assets),
        archive=pulumi.AssetArchive(assets),
    )
