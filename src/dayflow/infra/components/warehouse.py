"""Warehouse: the environment's BigQuery datasets, the tables dayflow owns, dataset-level IAM."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_gcp import bigquery

from dayflow.infra.components import get_child_options
from dayflow.tables import TableDef

# BigQuery reports legacy type names; declaring them avoids a perpetual diff on every preview.
_LEGACY_TYPES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}


@dataclass(frozen=True)
class DatasetGrant:
    """`role` on one logical dataset for one workload's `member` (`serviceAccount:...`)."""

    dataset: str
    role: str
    workload: str
    member: pulumi.Input[str]


@dataclass(frozen=True)
class WarehouseArgs:
    project: str
    location: str
    # Logical dataset name -> physical id in this environment (`mart` -> `dev_mart`).
    dataset_ids: Mapping[str, str]
    tables: tuple[TableDef, ...]
    grants: tuple[DatasetGrant, ...]
    labels: Mapping[str, str]
    deletion_protection: bool
    # Grants on declared source datasets (`sources`): they exist outside dayflow under their own
    # name in this project; infra grants on them and never creates, changes or deletes them.
    source_grants: tuple[DatasetGrant, ...] = ()


def get_schema_json(table: TableDef) -> str:
    """The BigQuery JSON schema of a `TableDef`."""
    return json.dumps(
        [
            {
                "name": c.name,
                "type": _LEGACY_TYPES.get(c.type, c.type),
                "mode": c.mode,
                **({"description": c.description} if c.description else {}),
            }
            for c in table.columns
        ]
    )


class Warehouse(pulumi.ComponentResource):
    """Creates one dataset per logical dataset, the owned tables, and dataset-level role grants.

    Creates:
    - `bigquery.Dataset` per logical dataset, physical id from the spec's `dataset_prefix`;
    - `bigquery.Table` per owned table (ledger, ingest, dead-letter, semantic, exposed), time-
      partitioned on its partition field, clustered, with `require_partition_filter` as its
      `TableDef` says, with its table and column descriptions and its own labels (an exposed
      table's `owner`: the catalog that BigQuery and Dataplex show);
    - `bigquery.DatasetIamMember` per grant, and per grant on a source dataset (a dataset
      someone else owns: only the member is added to its policy, the dataset is left alone).

    Secure defaults: roles are granted per dataset, never per project (the team group's read
    access too); every dataset and table
    carries the stack's labels; with `deletion_protection` tables refuse deletion, datasets and
    tables get `deletion_policy=PREVENT`, and datasets keep their contents on destroy.
    """

    def __init__(
        self, name: str, args: WarehouseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dayflow:infra:Warehouse", name, None, opts)
        child = get_child_options(self, opts)
        policy = "PREVENT" if args.deletion_protection else "DELETE"
        labels = dict(args.labels)

        self.datasets: dict[str, bigquery.Dataset] = {}
        for logical, dataset_id in args.dataset_ids.items():
            self.datasets[logical] = bigquery.Dataset(
                f"dataset-{logical}",
                project=args.project,
                dataset_id=dataset_id,
                location=args.location,
                description=f"dayflow dataset {logical!r}",
                labels=labels,
                delete_contents_on_destroy=not args.deletion_protection,
                deletion_policy=policy,
                opts=child,
            )

        self.tables: dict[str, bigquery.Table] = {}
        for t in args.tables:
            key = f"{t.dataset}.{t.table}"
            self.tables[key] = bigquery.Table(
                f"table-{t.dataset}-{t.table}",
                project=args.project,
                dataset_id=self.datasets[t.dataset].dataset_id,
                table_id=t.table,
                description=t.description,
                schema=get_schema_json(t),
                # Daily partitions, also for hourly pipelines: the job-runner replaces an hour
                # by its bounds within the day (and creates its own tables the same way).
                time_partitioning={"type": "DAY", "field": t.partition_field},
                require_partition_filter=t.require_partition_filter,
                clusterings=list(t.clustering) or None,
                labels={**labels, **dict(t.labels)},
                deletion_protection=args.deletion_protection,
                deletion_policy=policy,
                opts=child,
            )

        for grant in args.grants:
            role = grant.role.removeprefix("roles/bigquery.")
            bigquery.DatasetIamMember(
                f"iam-{grant.dataset}-{grant.workload}-{role}",
                project=args.project,
                dataset_id=self.datasets[grant.dataset].dataset_id,
                role=grant.role,
                member=grant.member,
                opts=child,
            )

        for grant in args.source_grants:
            role = grant.role.removeprefix("roles/bigquery.")
            bigquery.DatasetIamMember(
                f"iam-source-{grant.dataset}-{grant.workload}-{role}",
                project=args.project,
                dataset_id=grant.dataset,
                role=grant.role,
                member=grant.member,
                opts=child,
            )

        self.dataset_ids = {k: d.dataset_id for k, d in self.datasets.items()}
        self.register_outputs({"dataset_ids": self.dataset_ids})
