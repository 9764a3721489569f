-- The partition's mart totals equal its non-cancelled orders in the semantic layer.
with mart as (
    select coalesce(sum(orders), 0) as orders, coalesce(sum(revenue), 0) as revenue
    from {{ ref('daily_sales_dbt') }}
    where sales_date = {{ partition_date() }}
),

semantic as (
    select count(*) as orders, coalesce(sum(cast(amount as numeric)), 0) as revenue
    from {{ source('semantic', 'orders') }}
    where event_date = {{ partition_date() }}
        and status != 'cancelled'
)

select mart.orders as mart_orders, semantic.orders as semantic_orders,
    mart.revenue as mart_revenue, semantic.revenue as semantic_revenue
from mart cross join semantic
-- revenue is rounded per mart row: allow a cent per row
where mart.orders != semantic.orders
    or abs(mart.revenue - semantic.revenue) > 0.01 * greatest(mart.orders, 1)
