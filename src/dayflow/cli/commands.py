"""Registers every command module on the app (imports are the registration)."""

from __future__ import annotations

import importlib

# Each module does `@app.command()` at import. Optional ones may not exist yet in a build.
MODULES = (
    "pipelines",
    "run",
    "status",
    "local",
    "publish",
    "backfill",
    "executions",
    "seed",
    "init",
    "image",
    "contract",
    "schedule",
    "ui",
)


def register_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(f"dayflow.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"dayflow.cli.{name}":
                raise
