-- Customers who ordered in the partition, with their profile; merged on customer_id.
SELECT
  c.customer_id,
  c.name,
  c.country,
  COALESCE(c.segment, 'consumer') AS segment,
  @partition_date AS first_order_date
FROM raw.customers AS c
WHERE c.customer_id IN (
  SELECT customer_id FROM raw.orders
  WHERE order_ts >= @partition_start AND order_ts < @partition_end
)
