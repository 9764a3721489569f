-- Events of one day by type: the partition's rows are replaced on every run (idempotent).
-- @partition_date is the day; @partition_start/@partition_end its bounds as UTC timestamps.
SELECT
  @partition_date AS event_date,
  event_type,
  COUNT(*) AS events,
  COUNT(DISTINCT customer_id) AS customers,
  ROUND(SUM(amount), 2) AS amount
FROM raw.events
WHERE event_ts >= @partition_start AND event_ts < @partition_end
GROUP BY event_type
