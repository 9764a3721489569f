"""A function's source folder as a Pulumi archive, named by the SHA-256 of its content.

The object name changes exactly when a file's path or bytes change, so an unchanged function is
never rebuilt and a changed one always is. Caches and bytecode are left out of both the archive
and the hash, so running the function's tests locally does not redeploy it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
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


def build_source_archive(folder: Path, generated: Mapping[str, str] | None = None) -> SourceArchive:
    """Archive every file under `folder` except caches, plus `generated` files (path -> text).

    A generated file replaces a file of the same path in the folder (e.g. a local
    `ingest_config.json`). Raises FileNotFoundError if `main.py` is missing.
    """
    if not (folder / "main.py").is_file():
        raise FileNotFoundError(f"{folder}: no main.py (expected a Cloud Function source folder)")
    generated = generated or {}
    contents: dict[str, tuple[bytes, pulumi.Asset]] = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if (
            path.is_file()
            and rel not in generated
            and not _SKIPPED_PARTS.intersection(path.relative_to(folder).parts)
            and path.suffix not in _SKIPPED_SUFFIXES
        ):
            contents[rel] = (path.read_bytes(), pulumi.FileAsset(str(path)))
    for rel, text in generated.items():
        contents[rel] = (text.encode(), pulumi.StringAsset(text))
    digest = hashlib.sha256()
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for rel in sorted(contents):
        data, asset = contents[rel]
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        assets[rel] = asset
    return SourceArchive(
        folder_name=folder.name,
        digest=digest.hexdigest(),
        files=tuple(assets),
        archive=pulumi.AssetArchive(assets),
    )
