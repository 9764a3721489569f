"""`dayflow contract check --against REF [--producer PATH ...] [--spec PATH]`.

Compares the spec's contracts (topic schemas, exposed tables) with the same spec at a git ref,
and its consumed tables with their producers' specs. Prints one line per finding; exits 1 on a
breaking change, 0 otherwise, 2 on a user error (no git, a bad ref). A spec missing at REF has
no contracts there: everything is new.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from dayflow.cli.app import app
from dayflow.cli.context import SpecOption, console, get_spec
from dayflow.errors import UserError
from dayflow.settings import get_settings

contract_app = typer.Typer(help="Check the domain's contracts: topic schemas and exposed tables.")
app.add_typer(contract_app, name="contract")


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise UserError("git is not installed (expected `git` on PATH)") from None


def read_spec_at(ref: str, spec_path: Path) -> dict[str, Any] | None:
    """The spec's raw YAML at git `ref` (its path relative to the repository's top level);
    None if the file does not exist at `ref`."""
    folder = spec_path.resolve().parent
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode != 0:
        raise UserError(f"{folder} is not in a git repository (expected one to compare with)")
    if _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], folder).returncode != 0:
        raise UserError(f"unknown git ref {ref!r} (expected a commit, branch or tag)")
    relative = spec_path.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = _git(["show", f"{ref}:{relative}"], folder)
    if shown.returncode != 0:
        return None
    try:
        raw = yaml.safe_load(shown.stdout)
    except yaml.YAMLError as err:
        raise UserError(f"{ref}:{relative}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{ref}:{relative}: expected a mapping at the top level")
    return raw


@contract_app.command("check")
def check(
    against: Annotated[
        str | None, typer.Option("--against", help="Git ref to compare with, e.g. origin/main")
    ] = None,
    producer: Annotated[
        list[Path] | None,
        typer.Option("--producer", help="A producer domain's spec: check the consumed copies"),
    ] = None,
    spec: SpecOption = None,
) -> None:
    """Refuse breaking changes of the contracts (exit 1); accept additive ones."""
    from dayflow.contracts import compare, compare_consumed, get_contracts

    if against is None and not producer:
        raise UserError("nothing to check (expected --against REF or --producer PATH)")
    spec_path = spec or get_settings().spec
    loaded = get_spec(spec_path)
    findings = []
    if against is not None:
        raw_old = read_spec_at(against, spec_path)
        if raw_old is None:
            console.print(f"{spec_path} does not exist at {against}: every contract is new")
        old = get_contracts(raw_old or {}, f"{against}:{spec_path}")
        new = get_contracts(yaml.safe_load(spec_path.read_text()), str(spec_path))
        today = datetime.now(UTC).date()
        findings += compare(old, new, today)
    for path in producer or []:
        findings += compare_consumed(loaded, get_spec(path))
    for finding in findings:
        console.print(str(finding), markup=False, highlight=False, soft_wrap=True)
    breaking = [f for f in findings if f.breaking]
    console.print(
        f"{len(breaking)} breaking, {len(findings) - len(breaking)} accepted change(s)",
        highlight=False,
    )
    if breaking:
        raise typer.Exit(1)
