-- Orders placed in the partition, one row per order, cleaned and typed.
SELECT
  @partition_date AS order_date,
  order_id,
  customer_id,
  LOWER(status) AS status,
  ROUND(CAST(amount AS NUMERIC), 2) AS amount,
  COALESCE(currency, 'SEK') AS currency,
  order_ts
FROM raw.orders
WHERE order_ts >= @partition_start AND order_ts < @partition_end
