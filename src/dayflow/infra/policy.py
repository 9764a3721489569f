"""The security policy every stack must pass, as a check over registered resources.

Rules: no public members (`allUsers`, `allAuthenticatedUsers`) anywhere; no basic roles
(`roles/owner`, `roles/editor`, `roles/viewer`) anywhere; no BigQuery admin or data owner above
dataset level; no Cloud Run service with the IAM invoker check switched off. The tests run it
over every resource the program registers, so a violation fails the build before anything is
deployed.

Resource state may come with camelCase keys (as the engine sends it) or snake_case keys (as
the Python SDK takes them): both are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
# https://cloud.google.com/iam/docs/roles-overview#basic
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
# Allowed on one dataset, never on a project, folder or organization.
BIGQUERY_ADMIN_ROLES = frozenset({"roles/bigquery.admin", "roles/bigquery.dataOwner"})
# Resource types whose grants apply to a whole project, folder or organization.
_HIERARCHY_TYPE = re.compile(r"^gcp:(projects|folder|organizations)/")


@dataclass(frozen=True)
class Violation:
    resource: str  # `<type>::<name>`
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.rule} ({self.detail})"


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _walk(value: Any) -> Iterable[tuple[str, Any]]:
    """Yield (snake_case key, value) of every mapping entry, at any depth.

    IAM policy documents (`policy_data`) are JSON strings: they are parsed and walked too.
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            key = _snake(str(key))
            yield key, item
            if key == "policy_data" and isinstance(item, str):
                try:
                    item = json.loads(item)
                except ValueError:
                    continue
            yield from _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)


def check_resource(typ: str, name: str, state: Mapping[str, Any]) -> list[Violation]:
    """Every rule the resource `name` of type `typ` breaks, given its inputs or state."""
    where = f"{typ}::{name}"
    found: list[Violation] = []
    project_level = bool(_HIERARCHY_TYPE.match(typ))
    for key, value in _walk(state):
        values = value if isinstance(value, list) else [value]
        strings = [v for v in values if isinstance(v, str)]
        if key in ("member", "members", "iam_member", "special_group"):
            for member in strings:
                if member in PUBLIC_MEMBERS:
                    found.append(Violation(where, "public member", f"{key} {member!r}"))
        if key == "role":
            for role in strings:
                if role in BASIC_ROLES:
                    found.append(Violation(where, "basic role", role))
                elif role in BIGQUERY_ADMIN_ROLES and project_level:
                    found.append(Violation(where, "project-level BigQuery admin", role))
        if key == "invoker_iam_disabled" and value is True:
            found.append(Violation(where, "public service", "invoker_iam_disabled is true"))
    return found


def find_violations(resources: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[Violation]:
    """Check (type, name, state) of every resource; return all violations, in order."""
    return [v for typ, name, state in resources for v in check_resource(typ, name, state)]
