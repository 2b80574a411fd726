{#-
  What the stream_table materialization and the operations need from pg_trickle's catalog
  and SQL API. Every call names pg_trickle's functions with their schema, and passes names
  and the model's SQL as quoted literals.
-#}

{#- The catalog row of `relation` as a dict (None if it is not a stream table). -#}
{% macro pgtrickle_stream_table_info(relation) %}
  {% set sql %}
    select s.original_query, s.schedule, s.refresh_mode, s.status
      from pgtrickle.pgt_stream_tables s
     where s.pgt_relid = pg_catalog.to_regclass({{ dbt_pgtrickle.pgtrickle_literal(relation.include(database=false).render()) }})
  {% endset %}
  {% set result = run_query(sql) %}
  {% if result is none or result.rows | length == 0 %}
    {{ return(none) }}
  {% endif %}
  {% set row = result.rows[0] %}
  {{ return({
       'query': row[0],
       'schedule': row[1],
       'refresh_mode': row[2],
       'status': row[3],
     }) }}
{% endmacro %}

{#- The settings of the model, with pg_trickle's defaults. -#}
{% macro pgtrickle_model_settings() %}
  {% set schedule = config.get('schedule', '1m') %}
  {% set refresh_mode = config.get('refresh_mode', 'AUTO') | upper %}
  {% set initialize = config.get('initialize', true) %}
  {% if refresh_mode not in ['AUTO', 'FULL', 'DIFFERENTIAL', 'IMMEDIATE'] %}
    {{ exceptions.raise_compiler_error("refresh_mode must be AUTO, FULL, DIFFERENTIAL or IMMEDIATE, not " ~ refresh_mode) }}
  {% endif %}
  {{ return({'schedule': schedule, 'refresh_mode': refresh_mode, 'initialize': initialize}) }}
{% endmacro %}

{#- A SQL string literal of `value` (quotes doubled; standard_conforming_strings is on). -#}
{% macro pgtrickle_literal(value) -%}
  '{{ value | replace("'", "''") }}'
{%- endmacro %}

{% macro pgtrickle_create_sql(relation, sql, settings) %}
  select pgtrickle.create_stream_table(
    {{ dbt_pgtrickle.pgtrickle_literal(relation.include(database=false).render()) }},
    {{ dbt_pgtrickle.pgtrickle_literal(sql) }},
    schedule => {{ 'NULL' if settings.schedule is none else dbt_pgtrickle.pgtrickle_literal(settings.schedule) }},
    refresh_mode => {{ dbt_pgtrickle.pgtrickle_literal(settings.refresh_mode) }},
    initialize => {{ 'true' if settings.initialize else 'false' }})
{% endmacro %}

{#-
  Drops stream table `relation` and every stream table reading it (as dbt drops a table
  with the views on it: dbt re-creates the readers that are models of this run), keeping
  dbt's relation cache right.
-#}
{% macro pgtrickle_drop(relation) %}
  {% set readers_sql %}
    with recursive down(relid) as (
        select pg_catalog.to_regclass({{ dbt_pgtrickle.pgtrickle_literal(relation.include(database=false).render()) }})::oid
      union
        select r.pgt_relid
          from down
          join pgtrickle.pgt_dependencies d on d.source_relid = down.relid
          join pgtrickle.pgt_stream_tables r on r.pgt_id = d.pgt_id
    )
    select n.nspname::text, c.relname::text
      from down join pg_catalog.pg_class c on c.oid = down.relid
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  {% endset %}
  {% set readers = run_query(readers_sql) %}
  {% call statement('pgtrickle_drop') %}
    select pgtrickle.drop_stream_table({{ dbt_pgtrickle.pgtrickle_literal(relation.include(database=false).render()) }}, cascade => true)
  {% endcall %}
  {% for row in readers.rows %}
    {% set dropped = api.Relation.create(database=relation.database, schema=row[0], identifier=row[1], type='table') %}
    {% do adapter.cache_dropped(dropped) %}
    {% if row[0] != relation.schema or row[1] != relation.identifier %}
      {{ log("dropped stream table " ~ dropped.include(database=false).render() ~ ", which reads " ~ relation.include(database=false).render() ~ "; it is re-created if it is a model of this run", info=true) }}
    {% endif %}
  {% endfor %}
{% endmacro %}

{% macro pgtrickle_alter_sql(relation, settings, current) %}
  select pgtrickle.alter_stream_table(
    {{ dbt_pgtrickle.pgtrickle_literal(relation.include(database=false).render()) }},
    schedule => {{ dbt_pgtrickle.pgtrickle_literal(settings.schedule) if settings.schedule != current.schedule and settings.schedule is not none else 'NULL' }},
    refresh_mode => {{ dbt_pgtrickle.pgtrickle_literal(settings.refresh_mode) if settings.refresh_mode != current.refresh_mode else 'NULL' }})
{% endmacro %}
