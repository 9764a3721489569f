"""Files that ship inside the dayflow package: the Workflows sources, the ingest function and the
project templates of `dayflow init`.

Everything that deploys or runs them finds them here, through the installed package (a wheel or an
editable install alike), never through a repository layout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

WORKFLOW_SUFFIX = ".workflows.yaml"


def get_workflows_dir() -> Path:
    """The folder of `*.workflows.yaml` sources that infra deploys and the local engine runs."""
    return Path(str(files("dayflow") / "workflows"))


def get_ingest_function_dir() -> Path:
    """The ingest Cloud Function's source folder (main.py, requirements.txt, ingestfn/)."""
    return Path(str(files("dayflow") / "functions" / "ingest_events"))


def get_scaffold_dir() -> Path:
    """The templates of a new project that `dayflow init` writes (see `dayflow.scaffold`)."""
    return Path(str(files("dayflow") / "scaffold" / "template"))
