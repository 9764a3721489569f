{#- Local-only adaptations to the BigQuery emulator (local-bigquery 0.3.2).

    Both macros below override a dbt-bigquery macro for the target `local` only, which dayflow
    uses exactly when it runs against the emulator. Every other target (dev, prod) gets
    dbt-bigquery's own SQL, unchanged: each override calls the stock macro first and returns
    its result untouched unless the target is `local`. See the README of the example's transform folder.

    1. CREATE TABLE AS SELECT: dbt-bigquery reads the job's destination table to count rows
       (`client.get_table(query_job.destination)` in BigQueryConnectionManager.execute). Real
       BigQuery sets it; the emulator leaves it empty, and dbt fails with
       "'NoneType' object has no attribute 'path'". Locally one more statement turns the job into
       a script, for which dbt reads no destination.
    2. insert_overwrite's MERGE: the emulator runs a MERGE as several internal statements that
       read the target table without a partition filter, so it rejects any MERGE into a table
       with require_partition_filter (real BigQuery accepts the partition predicate in
       WHEN NOT MATCHED BY SOURCE). Locally the same replacement is a DELETE of the partitions
       then an INSERT, in one transaction.
-#}

{% macro dayflow_is_local_target() -%}
  {{- return(target.name == 'local') -}}
{%- endmacro %}


{% macro bigquery__create_table_as(temporary, relation, compiled_code, language='sql') -%}
  {%- set stock_sql = dbt.bigquery__create_table_as(temporary, relation, compiled_code, language) -%}
  {%- if language != 'sql' or not dayflow_is_local_target() -%}
    {{- return(stock_sql) -}}
  {%- endif -%}
{{ stock_sql | trim | trim(';') }};
-- dayflow, local target only: a second statement makes this job a script (see local_bigquery.sql)
select 1 as dayflow_local_script;
{%- endmacro %}


{% macro bigquery__get_insert_overwrite_merge_sql(target, source, dest_columns, predicates, include_sql_header) -%}
  {%- if not dayflow_is_local_target() -%}
    {{- return(dbt.default__get_insert_overwrite_merge_sql(target, source, dest_columns, predicates, include_sql_header)) -}}
  {%- endif -%}
  {%- set predicates = [] if predicates is none else predicates -%}
  {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
{{ sql_header if sql_header is not none and include_sql_header }}
-- dayflow, local target only: MERGE ... ON FALSE rewritten as DELETE + INSERT (see local_bigquery.sql)
begin transaction;
delete from {{ target }} as DBT_INTERNAL_DEST
where {{ predicates | join(' and ') if predicates else 'true' }};
insert into {{ target }} ({{ dest_cols_csv }})
select {{ dest_cols_csv }} from {{ source }} as DBT_INTERNAL_SOURCE;
commit transaction
{%- endmacro %}
