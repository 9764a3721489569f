-- One row per sales_date, country, segment and currency in the partition built.
select sales_date, country, segment, currency, count(*) as rows_per_key
from {{ ref('daily_sales_dbt') }}
where sales_date = {{ partition_date() }}
group by 1, 2, 3, 4
having count(*) > 1
