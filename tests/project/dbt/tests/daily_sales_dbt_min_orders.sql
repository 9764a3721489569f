-- Data-quality gate: the partition holds at least var('min_orders_per_partition') orders.
-- The default 0 never fails; raise it in the job's vars (or deliberately, in tests).
select coalesce(sum(orders), 0) as orders_in_partition
from {{ ref('daily_sales_dbt') }}
where sales_date = {{ partition_date() }}
having coalesce(sum(orders), 0) < {{ var('min_orders_per_partition') | int }}
