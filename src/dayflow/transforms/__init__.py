"""dbt and Dataform job kinds: run a transformation project for one partition.

`run_dbt` and `run_dataform` are pure functions of a spec job, the partition's vars and where
BigQuery is; both return a `TransformResult` with per-node results for the run ledger, and raise
`TransformError` (or `ToolNotInstalledError`) for problems a user must fix before a retry.
"""
