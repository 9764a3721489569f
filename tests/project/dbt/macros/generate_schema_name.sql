{#- Physical dataset = the environment's dataset_prefix + the logical `schema` config
    (e.g. dev_ + mart), instead of dbt's default <target schema>_<custom schema>.
    Models without a `schema` config go to the profile's dataset, which dayflow already
    prefixes. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}
    {{ target.schema }}
  {%- else -%}
    {{ var('dataset_prefix', '') ~ (custom_schema_name | trim) }}
  {%- endif -%}
{%- endmacro %}
