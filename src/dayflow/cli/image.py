"""`dayflow image prepare SPEC` and `dayflow image dataform-projects SPEC`: project image builds.

A project's Dockerfile runs `dayflow image prepare /app/dayflow.yaml` as root, after copying the
project under /app (dayflow.project_image says what it checks, removes and installs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dayflow.cli.app import app

image_app = typer.Typer(help="Build a project's job-runner image on the toolkit image.")
app.add_typer(image_app, name="image")

SpecArgument = Annotated[
    Path, typer.Argument(help="The spec inside the image, e.g. /app/dayflow.yaml")
]


@image_app.command("prepare")
def prepare(spec: SpecArgument) -> None:
    """Check the spec's files are in the image, remove local state, make the files read-only to
    the runtime user, and `npm ci` each CLI-mode Dataform project (run as root at build time)."""
    from dayflow.project_image import prepare_app

    projects = prepare_app(spec)
    for project in projects:
        print(f"Dataform CLI installed: {project}")
    print(f"project image ready: {spec.parent} ({len(projects)} Dataform project(s))")


@image_app.command("dataform-projects")
def dataform_projects(spec: SpecArgument) -> None:
    """Print the Dataform projects that the spec's CLI-mode jobs run, one per line, relative to
    the spec's directory (each must have a package-lock.json)."""
    from dayflow.project_image import get_dataform_projects
    from dayflow.spec import load_spec

    for project in get_dataform_projects(load_spec(spec), spec.parent):
        print(project)
