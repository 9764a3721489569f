"""Reading the Dataform CLI: its compiled graph (`compile --json`) and its run log.

`dataform run` has no machine-readable output (`--json` is refused unless with `--dry-run`, and
still exits 0), so the run's per-action results are read from its log lines, which
@dataform/cli 3.0.69 prints as, e.g.:

    Table created:  mart.daily_sales_dataform [incremental]
         jobId: dataform-1234,
    Assertion failed:  dataform_assertions.daily_sales_dataform_min_orders
         jobId: dataform-5678, dataform-9abc,
      > create or replace view ...
      bigquery error: Assertion failed: query returned 1 row(s).

Which actions exist, and their kinds, come from the compiled graph instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dayflow.transforms.results import NodeKind, NodeStatus

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_HEADER = re.compile(
    r"^(?P<verb>Table created|Assertion passed|Operation completed successfully"
    r"|Dataset creation failed|Assertion failed|Operation failed"
    r"|Skipping dataset creation|Skipping assertion execution|Skipping operation execution"
    r"|Dataset creation disabled|Assertion execution disabled|Operation execution disabled)"
    r":\s+(?P<target>\S+)(?P<rest>.*)$"
)
_VERB_STATUS: dict[str, NodeStatus] = {
    "Table created": "succeeded",
    "Assertion passed": "succeeded",
    "Operation completed successfully": "succeeded",
    "Dataset creation failed": "failed",
    "Assertion failed": "failed",
    "Operation failed": "failed",
    "Skipping dataset creation": "skipped",
    "Skipping assertion execution": "skipped",
    "Skipping operation execution": "skipped",
    "Dataset creation disabled": "skipped",
    "Assertion execution disabled": "skipped",
    "Operation execution disabled": "skipped",
}
_JOB_IDS = re.compile(r"^jobId:\s*(?P<ids>.*)$")
_ROW_COUNT = re.compile(r"query returned (\d+) row")


@dataclass(frozen=True, slots=True)
class CompiledAction:
    """One action of a compiled Dataform project."""

    database: str
    schema: str
    name: str
    kind: NodeKind
    tags: tuple[str, ...]
    disabled: bool

    @property
    def target(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class LoggedAction:
    """One action as the run log reports it."""

    target: str
    kind: NodeKind
    status: NodeStatus
    job_ids: list[str] = field(default_factory=list)
    message_lines: list[str] = field(default_factory=list)

    @property
    def message(self) -> str | None:
        return "\n".join(self.message_lines) or None

    @property
    def failures(self) -> int | None:
        match = _ROW_COUNT.search(self.message or "")
        return int(match[1]) if match else None


def _verb_kind(verb: str) -> NodeKind:
    if "ssertion" in verb:
        return "assertion"
    if "peration" in verb:
        return "operation"
    return "model"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def parse_compiled_graph(graph: dict[str, Any]) -> tuple[list[str], list[CompiledAction]]:
    """Return the compilation errors (`file: message`) and the actions of `compile --json`."""
    errors = [
        f"{e.get('fileName', '?')}: {e.get('message', e.get('stack', 'unknown error'))}"
        for e in (graph.get("graphErrors") or {}).get("compilationErrors") or []
    ]
    actions = []
    for key, kind in (
        ("tables", "model"),
        ("assertions", "assertion"),
        ("operations", "operation"),
    ):
        for action in graph.get(key) or []:
            target = action.get("target") or {}
            actions.append(
                CompiledAction(
                    database=str(target.get("database", "")),
                    schema=str(target.get("schema", "")),
                    name=str(target.get("name", "")),
                    kind=kind,  # type: ignore[arg-type]
                    tags=tuple(action.get("tags") or ()),
                    disabled=bool(action.get("disabled")),
                )
            )
    return errors, actions


def select_actions(
    actions: list[CompiledAction], tags: list[str], names: list[str]
) -> list[CompiledAction]:
    """The actions `dataform run --tags ... --actions ...` runs: the union of both selections.

    As in the CLI, a name without a dot matches an action's name, and a dotted one its full
    target (`schema.name` or `database.schema.name`); there are no wildcards.
    """
    if not tags and not names:
        return list(actions)
    return [a for a in actions if set(a.tags) & set(tags) or any(_matches(a, n) for n in names)]


def _matches(action: CompiledAction, name: str) -> bool:
    if "." not in name:
        return action.name == name
    return name in (action.target, f"{action.database}.{action.target}")


def parse_run_log(log: str) -> list[LoggedAction]:
    """The actions a `dataform run` log reports, in the order it ran them."""
    found: list[LoggedAction] = []
    current: LoggedAction | None = None
    for raw in strip_ansi(log).splitlines():
        line = raw.strip()
        if match := _HEADER.match(line):
            rest = match["rest"].strip()
            verb = match["verb"]
            current = LoggedAction(
                target=match["target"], kind=_verb_kind(verb), status=_VERB_STATUS[verb]
            )
            # A skipped action carries its reason in parentheses after the target.
            if reason := re.search(r"\((.*)\)\s*$", rest):
                current.message_lines.append(reason[1])
            found.append(current)
            continue
        if current is None or not line:
            continue
        if job_ids := _JOB_IDS.match(line):
            current.job_ids += [j.strip() for j in job_ids["ids"].split(",") if j.strip()]
        elif line.startswith(("Bytes billed", ">")):
            continue  # byte counts and the failing statement's SQL echo
        elif current.status == "failed" and raw.startswith((" ", "\t")):
            current.message_lines.append(line)
        else:
            current = None  # an unrelated line ends the action's block
    return found
