-- Customers who ordered in the partition, with their profile and first order date; merged on
-- customer_id. Every column is a function of all data, not of the run, so the order in which
-- partitions run (or rerun) never changes the result.
SELECT
  c.customer_id,
  c.name,
  c.country,
  COALESCE(c.segment, 'consumer') AS segment,
  f.first_order_date
FROM raw.customers AS c
JOIN (
  SELECT customer_id, MIN(DATE(order_ts, 'Europe/Stockholm')) AS first_order_date
  FROM raw.orders
  GROUP BY customer_id
) AS f USING (customer_id)
WHERE c.customer_id IN (
  SELECT customer_id FROM raw.orders
  WHERE order_ts >= @partition_start AND order_ts < @partition_end
)
