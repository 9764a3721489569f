"""dbt and Dataform job kinds: run a transformation project for one partition.

`run_dbt` and `run_dataform` are functions of a spec job, the partition's vars and where
BigQuery is; both return a `TransformResult` with per-node results for the run ledger, and raise
`TransformError` (or `ToolNotInstalledError`) for problems a user must fix before a retry.
Neither imports dbt or the Google clients until it runs.
"""

from dayflow.transforms.dataform import run_dataform
from dayflow.transforms.dbt import run_dbt
from dayflow.transforms.partition_vars import PartitionVars
from dayflow.transforms.results import NodeResult, TransformResult

__all__ = ["NodeResult", "PartitionVars", "TransformResult", "run_dataform", "run_dbt"]
