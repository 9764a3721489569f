"""ConsumedTables: read access for this domain's workloads on other domains' exposed tables."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import bigquery

from dayflow.infra.components import get_child_options

DATA_VIEWER = "roles/bigquery.dataViewer"


@dataclass(frozen=True)
class ConsumedTable:
    """A producer's table in this environment: `key` is `<domain>.<dataset>.<table>`."""

    key: str
    project: str
    dataset_id: str
    table_id: str


@dataclass(frozen=True)
class TableReader:
    """A workload of this domain, by its `serviceAccount:` member, and the consumed tables
    (keys) it reads."""

    workload: str
    member: pulumi.Input[str]
    tables: tuple[str, ...]


@dataclass(frozen=True)
class ConsumedTablesArgs:
    tables: tuple[ConsumedTable, ...]
    readers: tuple[TableReader, ...]


class ConsumedTables(pulumi.ComponentResource):
    """Grants each reader `roles/bigquery.dataViewer` on exactly the consumed tables it reads.

    Creates:
    - `bigquery.IAMMember` per (consumed table, reader): a table-level grant in the producer's
      project (https://cloud.google.com/bigquery/docs/control-access-to-resources-iam).

    The consumer's stack makes the grant, so the producer's stack needs to know no consumer:
    the identity that deploys this stack holds `bigquery.tables.setIamPolicy` (and
    `getIamPolicy`, `get`) on the producer's exposed datasets, granted once by the platform team
    (README, "Many domains"). Secure defaults: one table per grant, never a dataset or project
    of the producer; read only; nothing else in the producer's project.
    """

    def __init__(
        self, name: str, args: ConsumedTablesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:ConsumedTables", name, None, opts)
        child = get_child_options(self, opts)
        self.grants: dict[tuple[str, str], bigquery.IamMember] = {}
        for table in args.tables:
            for reader in (r for r in args.readers if table.key in r.tables):
                self.grants[(table.key, reader.workload)] = bigquery.IamMember(
                    f"consumes-{table.key.replace('.', '-')}-{reader.workload}",
                    project=table.project,
                    dataset_id=table.dataset_id,
                    table_id=table.table_id,
                    role=DATA_VIEWER,
                    member=reader.member,
                    opts=child,
                )
        self.register_outputs({"tables": [t.key for t in args.tables]})
