-- Daily sales per country and segment, from the partition's orders.
SELECT
  @partition_date AS sales_date,
  d.country,
  d.segment,
  COUNT(*) AS orders,
  COUNT(DISTINCT o.customer_id) AS customers,
  SUM(o.amount) AS revenue
FROM {{ dataset:staging }}.stg_orders AS o
JOIN {{ dataset:staging }}.dim_customers AS d USING (customer_id)
WHERE o.order_date = @partition_date AND o.status != 'cancelled'
GROUP BY d.country, d.segment
