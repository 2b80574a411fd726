{#-
  dbt run-operation stream_table_status [--args '{schema: analytics}']

  One line per stream table: its mode, status, when it was last refreshed, and the age of
  its data (from pgtrickle.stream_tables_info).
-#}
{% macro stream_table_status(schema=none) %}
  {% set sql %}
    select pg_catalog.format('%I.%I', i.schemaname, i.name) as name,
           i.effective_refresh_mode as mode, i.status,
           coalesce(pg_catalog.to_char(i.last_refresh_at, 'YYYY-MM-DD HH24:MI:SS'), 'never') as last_refresh,
           coalesce(pg_catalog.date_trunc('second', i.staleness)::text, '') as staleness
      from pgtrickle.stream_tables_info i
     where {{ 'true' if schema is none else 'i.schemaname = ' ~ dbt_pgtrickle.pgtrickle_literal(schema) }}
     order by 1
  {% endset %}
  {% set result = run_query(sql) %}
  {% for row in result.rows %}
    {{ log(row[0] ~ "  " ~ row[1] ~ "  " ~ row[2] ~ "  last refresh " ~ row[3] ~ ("" if row[4] == "" else "  data age " ~ row[4]), info=true) }}
  {% endfor %}
  {% if result.rows | length == 0 %}
    {{ log("no stream tables", info=true) }}
  {% endif %}
  {{ return(result) }}
{% endmacro %}
