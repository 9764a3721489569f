// The partition being built and the environment's dataset naming, from the vars dayflow passes.
const vars = dataform.projectConfig.vars;

// The partition as a SQL DATE literal. This project builds daily partitions.
function partitionDate() {
  const key = vars.partition_key || "";
  if (!/^\d{4}-\d{2}-\d{2}$/.test(key)) {
    throw new Error(
      `partition_key '${key}' is not a date (expected YYYY-MM-DD: this project builds daily partitions)`
    );
  }
  return `DATE '${key}'`;
}

// Physical dataset = the environment's dataset_prefix + the logical name (e.g. dev_ + mart).
function dataset(name) {
  const prefix = vars.dataset_prefix || "";
  if (!/^[A-Za-z0-9_]*$/.test(prefix)) {
    throw new Error(`dataset_prefix '${prefix}' is not valid (expected letters, digits and underscores)`);
  }
  return `${prefix}${name}`;
}

function minOrdersPerPartition() {
  const value = Number(vars.min_orders_per_partition || "0");
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(
      `min_orders_per_partition '${vars.min_orders_per_partition}' is not a whole number (expected e.g. 10)`
    );
  }
  return value;
}

module.exports = { partitionDate, dataset, minOrdersPerPartition };
