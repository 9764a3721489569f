"""Contracts: a domain's topic schemas and exposed tables, compared across versions.

`compare(old, new, today)` lists what changed between two versions of a spec's contracts
(`get_contracts` reads them from a spec's raw YAML, so a spec at an old git ref that no longer
loads in full, say with SQL files since moved, still compares). Expand and contract:

- breaking: a removed topic or exposed table; a removed field (unless its `deprecated` date has
  passed); a retyped field; a new required field; an optional field made required; a required
  field made optional (readers relied on it never being null); an enum value removed;
- accepted: a new topic or table, a new optional field, a new enum value, changed
  descriptions, a new `deprecated` date, and removing a field on or after that date.

`check_select_schema` holds a job's SELECT to its exposed table's columns (the job-runner calls
it before each write); `compare_consumed` holds a consumer's copy of a table to its producer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from dayflow.errors import UserError
from dayflow.spec_domains import (
    ExposedTable,
    get_canonical_type,
    get_exposed_tables,
    split_consumed_key,
)

if TYPE_CHECKING:
    from dayflow.spec import Spec


@dataclass(frozen=True)
class ContractField:
    """One field of a contract, as compared: type, requiredness, deprecation, enum."""

    type: str
    required: bool = False
    deprecated: date | None = None
    description: str = ""
    enum: tuple[str | int, ...] | None = None


# "topic orders" or "table mart.daily_sales" -> field name -> field.
Contracts = dict[str, dict[str, ContractField]]


@dataclass(frozen=True)
class Finding:
    """One change of one contract; `field` is None for the whole topic or table."""

    contract: str
    field: str | None
    change: str
    breaking: bool

    def __str__(self) -> str:
        what = f"{self.contract} field {self.field!r}" if self.field else self.contract
        return f"{'breaking' if self.breaking else 'ok'}: {what}: {self.change}"


def get_contracts(raw: Mapping[str, Any], where: str = "spec") -> Contracts:
    """The contracts of a spec's raw YAML: its topics' fields and its exposed tables' columns.

    Raises UserError naming `where` if the topics or exposes are not valid.
    """
    from dayflow.spec import Topic

    try:
        topics = TypeAdapter(dict[str, Topic]).validate_python(raw.get("topics") or {})
        exposes = TypeAdapter(dict[str, ExposedTable]).validate_python(raw.get("exposes") or {})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{where}: {loc}: {first['msg']} (expected a valid dayflow spec)") from None
    contracts: Contracts = {}
    for name, topic in topics.items():
        contracts[f"topic {name}"] = {
            field: ContractField(
                f.type,
                f.required,
                f.deprecated,
                f.description,
                tuple(f.enum) if f.enum is not None else None,
            )
            for field, f in topic.fields.items()
        }
    for key, table in exposes.items():
        contracts[f"table {key}"] = {
            column: ContractField(c.type, c.required, c.deprecated, c.description)
            for column, c in table.columns.items()
        }
    return contracts


def compare(old: Contracts, new: Contracts, today: date) -> list[Finding]:
    """Every change from `old` to `new`, in a stable order (see the module docstring)."""
    findings: list[Finding] = []
    for name in old.keys() - new.keys():
        findings.append(Finding(name, None, "removed (expected it to stay: readers use it)", True))
    for name in new.keys() - old.keys():
        findings.append(Finding(name, None, "added", False))
    for name in old.keys() & new.keys():
        findings += _compare_fields(name, old[name], new[name], today)
    return sorted(findings, key=lambda f: (f.contract, f.field or "", f.change))


def _compare_fields(
    name: str, old: dict[str, ContractField], new: dict[str, ContractField], today: date
) -> list[Finding]:
    def ok(field: str, change: str) -> Finding:
        return Finding(name, field, change, breaking=False)

    def bad(field: str, change: str) -> Finding:
        return Finding(name, field, change, breaking=True)

    found: list[Finding] = []
    for field, was in old.items():
        if field in new:
            found += _compare_field(ok, bad, field, was, new[field])
        elif was.deprecated is None:
            found.append(
                bad(
                    field,
                    "removed without a deprecation (expected `deprecated: "
                    "YYYY-MM-DD` first, and removal on or after that date)",
                )
            )
        elif was.deprecated <= today:
            found.append(ok(field, f"removed after its deprecation on {was.deprecated}"))
        else:
            found.append(
                bad(
                    field,
                    f"removed before its deprecation date {was.deprecated} "
                    "(expected to keep it until then)",
                )
            )
    for field, now in new.items():
        if field in old:
            continue
        if now.required:
            found.append(
                bad(
                    field,
                    "added as required (expected a new field to be optional: "
                    "existing writers do not send it)",
                )
            )
        else:
            found.append(ok(field, "added (optional)"))
    return found


def _compare_field(
    ok: Callable[[str, str], Finding],
    bad: Callable[[str, str], Finding],
    field: str,
    was: ContractField,
    now: ContractField,
) -> list[Finding]:
    found: list[Finding] = []
    if was.type != now.type:
        found.append(
            bad(
                field,
                f"retyped from {was.type} to {now.type} (expected the same "
                "type: add a new field instead)",
            )
        )
    if not was.required and now.required:
        found.append(bad(field, "made required (expected it to stay optional)"))
    if was.required and not now.required:
        found.append(bad(field, "made optional (readers rely on it being set)"))
    if was.deprecated != now.deprecated:
        deprecated = now.deprecated
        found.append(
            ok(
                field,
                f"deprecated from {deprecated}"
                if deprecated is not None
                else "deprecation withdrawn",
            )
        )
    if was.description != now.description:
        found.append(ok(field, "description changed"))
    if was.enum is None and now.enum is not None:
        found.append(
            bad(field, f"restricted to enum {list(now.enum)} (expected no new restriction)")
        )
    elif was.enum is not None:
        removed = [v for v in was.enum if now.enum is not None and v not in now.enum]
        added = [v for v in (now.enum or ()) if v not in was.enum]
        if removed:
            found.append(bad(field, f"enum values removed: {removed} (expected only additions)"))
        if added:
            found.append(ok(field, f"enum values added: {added}"))
    return found


def check_select_schema(
    key: str, exposed: ExposedTable, schema: list[tuple[str, str]]
) -> list[str]:
    """Problems of a SELECT's output columns (name, type) against exposed table `key`.

    The declared columns are the contract: the SELECT returns exactly them, with their types.
    """
    problems = []
    got = {name: get_canonical_type(typ) for name, typ in schema}
    for name, column in exposed.columns.items():
        if name not in got:
            problems.append(
                f"exposed table {key}: the job's SELECT has no column {name!r} "
                f"(expected the declared {column.type} column)"
            )
        elif got[name] != column.type:
            problems.append(
                f"exposed table {key}: column {name!r} is {got[name]} "
                f"(expected the declared {column.type})"
            )
    for name in got.keys() - exposed.columns.keys():
        problems.append(
            f"exposed table {key}: the job's SELECT returns undeclared column "
            f"{name!r} (expected only the declared columns: add it to exposes)"
        )
    return sorted(problems)


def compare_consumed(consumer: Spec, producer: Spec) -> list[Finding]:
    """Each table `consumer` consumes from `producer` against what `producer` exposes now.

    The consumer's copy may hold a subset of the columns; each must exist with the same type.
    """
    findings: list[Finding] = []
    for key, consumed in consumer.consumes.items():
        domain, dataset, table = split_consumed_key(key)
        if domain != producer.name:
            continue
        exposed = producer.exposes.get(f"{dataset}.{table}")
        name = f"consumed table {key}"
        if exposed is None:
            findings.append(
                Finding(
                    name,
                    None,
                    f"not exposed by domain {domain!r} (expected "
                    f"one of: {', '.join(producer.exposes) or 'none'})",
                    True,
                )
            )
            continue
        (table_def,) = [
            t for t in get_exposed_tables(producer) if (t.dataset, t.table) == (dataset, table)
        ]
        if (consumed.partition_field, consumed.require_partition_filter) != (
            table_def.partition_field,
            table_def.require_partition_filter,
        ):
            findings.append(
                Finding(
                    name,
                    None,
                    f"partitioned by {table_def.partition_field!r} with require_partition_filter "
                    f"{str(table_def.require_partition_filter).lower()} at the producer (expected "
                    "the copy to declare the same partition_field and require_partition_filter)",
                    True,
                )
            )
        for column, copy in consumed.columns.items():
            actual = exposed.columns.get(column)
            if actual is None:
                findings.append(Finding(name, column, "not a column of the producer's table", True))
            elif actual.type != copy.type:
                findings.append(
                    Finding(
                        name,
                        column,
                        f"is {actual.type} at the producer (the copy says {copy.type})",
                        True,
                    )
                )
            elif actual.deprecated is not None:
                findings.append(
                    Finding(
                        name, column, f"deprecated by the producer from {actual.deprecated}", False
                    )
                )
    return findings
