{#-
  dbt run-operation refresh_stream_table --args '{name: analytics.orders_by_region}'
  dbt run-operation refresh_all_stream_tables [--args '{schema: analytics}']

  A refresh brings a stream table up to date with its sources now (incrementally where it
  can). refresh_all_stream_tables refreshes every stream table (of one schema, if given)
  readers after what they read, each in its own transaction.
-#}
{% macro refresh_stream_table(name) %}
  {% if name is none or name | trim == '' %}
    {{ exceptions.raise_compiler_error("refresh_stream_table needs a name, as in --args '{name: analytics.orders_by_region}'") }}
  {% endif %}
  {{ dbt_pgtrickle.pgtrickle_refresh_one(name) }}
  {{ log("refreshed " ~ name, info=true) }}
{% endmacro %}

{#- Stream tables in dependency order (readers after the stream tables they read). -#}
{% macro pgtrickle_stream_tables_in_order(schema=none) %}
  {% set sql %}
    with recursive depth(pgt_id, d) as (
        select s.pgt_id, 0 from pgtrickle.pgt_stream_tables s
      union all
        select dep.pgt_id, depth.d + 1
          from depth
          join pgtrickle.pgt_stream_tables up on up.pgt_id = depth.pgt_id
          join pgtrickle.pgt_dependencies dep on dep.source_relid = up.pgt_relid
    )
    select pg_catalog.format('%I.%I', s.pgt_schema, s.pgt_name)
      from pgtrickle.pgt_stream_tables s
      join (select pgt_id, max(d) as d from depth group by pgt_id) x on x.pgt_id = s.pgt_id
     where {{ 'true' if schema is none else 's.pgt_schema = ' ~ dbt_pgtrickle.pgtrickle_literal(schema) }}
     order by x.d, s.pgt_id
  {% endset %}
  {% set result = run_query(sql) %}
  {{ return(result.columns[0].values() if result is not none else []) }}
{% endmacro %}

{% macro refresh_all_stream_tables(schema=none) %}
  {% set names = dbt_pgtrickle.pgtrickle_stream_tables_in_order(schema) %}
  {% for name in names %}
 {{ dbt_pgtrickle.pgtrickle_refresh_one(name) }}
    {{ log("refreshed " ~ name ~ " (" ~ loop.index ~ "/" ~ names | length ~ ")", info=true) }}
  {% endfor %}
  {% if names | length == 0 %}
    {{ log("no stream tables" ~ ("" if schema is none else " in schema " ~ schema), info=true) }}
  {% endif %}
{% endmacro %}

{#- One refresh in a transaction of its own (committed before the next one starts). -#}
{% macro pgtrickle_refresh_one(name) %}
  {% call statement('pgtrickle_refresh', fetch_result=false, auto_begin=true) %}
    select pgtrickle.refresh_stream_table({{ dbt_pgtrickle.pgtrickle_literal(name) }})
  {% endcall %}
  {% do adapter.commit() %}
{% endmacro %}
