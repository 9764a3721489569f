// The semantic layer: deduplicated event tables, one partition per event_date (built by
// dayflow's dedup jobs). Both require a partition filter.
declare({ schema: partition.dataset("semantic"), name: "orders" });
declare({ schema: partition.dataset("semantic"), name: "customers" });
