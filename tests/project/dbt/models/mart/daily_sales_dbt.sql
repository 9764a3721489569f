{#- Daily sales of one partition: orders, distinct customers and revenue per country, segment
    and currency, excluding cancelled orders.

    Incremental by partition: insert_overwrite with a static partition list, so a run replaces
    exactly the partition `partition_key` (even with no rows) and reruns are idempotent. The list
    is a config() value, fixed when dbt parses the project: dayflow re-parses on every run.
    Locally, macros/local_bigquery.sql adapts two statements to the emulator. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    schema='mart',
    partition_by={'field': 'sales_date', 'data_type': 'date', 'granularity': 'day'},
    partitions=[partition_date()],
    require_partition_filter=true,
) }}

with partition_orders as (
    select
        customer_id,
        coalesce(currency, 'unknown') as currency,
        cast(amount as numeric) as amount
    from {{ source('semantic', 'orders') }}
    where event_date = {{ partition_date() }}
        and status != 'cancelled'
),

latest_customers as (
    -- Each customer's latest profile as of the partition (reproducible in backfills).
    select customer_id, country, segment
    from {{ source('semantic', 'customers') }}
    where event_date <= {{ partition_date() }}
    qualify row_number() over (
        partition by customer_id order by updated_at desc, publish_time desc, message_id desc
    ) = 1
)

select
    {{ partition_date() }} as sales_date,
    coalesce(c.country, 'unknown') as country,
    coalesce(c.segment, 'unknown') as segment,
    o.currency,
    count(*) as orders,
    count(distinct o.customer_id) as customers,
    round(sum(o.amount), 2) as revenue
from partition_orders as o
left join latest_customers as c using (customer_id)
group by 1, 2, 3, 4
