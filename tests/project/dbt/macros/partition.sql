{#- The partition being built, as a SQL DATE literal, from the var `partition_key`.
    This project builds daily partitions: an hourly key is rejected at parse time. -#}
{% macro partition_date() -%}
  {%- set key = var('partition_key') -%}
  {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', key | string) -%}
    {{ exceptions.raise_compiler_error(
        "partition_key '" ~ key ~ "' is not a date (expected YYYY-MM-DD: this project builds daily partitions)"
    ) }}
  {%- endif -%}
  {{- return("DATE '" ~ key ~ "'") -}}
{%- endmacro %}
