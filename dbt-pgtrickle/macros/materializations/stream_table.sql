{#-
  materialized='stream_table': the model becomes a pg_trickle stream table — a table that
  pg_trickle keeps equal to the model's query, refreshed on its schedule (incrementally
  where it can).

  Config keys: schedule ('1m'; a duration, a cron expression, or none for "calculated from
  the readers"), refresh_mode ('AUTO' | 'FULL' | 'DIFFERENTIAL' | 'IMMEDIATE'), initialize
  (true: fill it when created), on_configuration_change ('apply' | 'continue' | 'fail', as
  for dbt's materialized views), grants, persist_docs.

  `dbt run`:
  - creates the stream table if there is none (dropping a table or view of that name
    that is not one);
  - with --full-refresh, drops and re-creates it;
  - dropping one also drops the stream tables reading it (as dbt drops a table's views);
    those that are models of the run are re-created after it;
  - otherwise applies what changed: a new schedule or refresh mode with
    alter_stream_table, a new query by dropping and re-creating it (a stream table's query
    cannot be altered in place), as on_configuration_change says; nothing changed, nothing
    done (pg_trickle keeps it fresh).
-#}
{% materialization stream_table, adapter='postgres' %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set settings = dbt_pgtrickle.pgtrickle_model_settings() -%}
  {%- set on_configuration_change = config.get('on_configuration_change', 'apply') -%}
  {%- set grant_config = config.get('grants') -%}
  {%- set model_sql = sql | trim -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- set current = none -%}
  {%- if existing_relation is not none -%}
    {%- set current = dbt_pgtrickle.pgtrickle_stream_table_info(existing_relation) -%}
  {%- endif -%}

  {%- set action = 'create' -%}
  {%- if existing_relation is none -%}
    {%- set action = 'create' -%}
  {%- elif current is none -%}
    {#- A table or view of that name that is not a stream table: replaced. -#}
    {%- set action = 'replace_relation' -%}
  {%- elif should_full_refresh() -%}
    {%- set action = 'recreate' -%}
  {%- else -%}
    {%- set query_changed = (current.query | trim) != model_sql -%}
    {%- set settings_changed = settings.schedule != current.schedule or settings.refresh_mode != current.refresh_mode -%}
    {%- if not query_changed and not settings_changed -%}
      {%- set action = 'none' -%}
    {%- elif on_configuration_change == 'apply' -%}
      {%- set action = 'recreate' if query_changed else 'alter' -%}
    {%- elif on_configuration_change == 'continue' -%}
      {{ exceptions.warn("Configuration changes were identified and `on_configuration_change` was set to `continue` for `" ~ target_relation.include(database=false).render() ~ "`") }}
      {%- set action = 'none' -%}
    {%- elif on_configuration_change == 'fail' -%}
      {{ exceptions.raise_fail_fast_error("Configuration changes were identified and `on_configuration_change` was set to `fail` for `" ~ target_relation.include(database=false).render() ~ "`") }}
    {%- else -%}
      {{ exceptions.raise_compiler_error("on_configuration_change must be apply, continue or fail, not " ~ on_configuration_change) }}
    {%- endif -%}
  {%- endif -%}

  {%- if action == 'replace_relation' -%}
    {{ adapter.drop_relation(existing_relation) }}
  {%- elif action == 'recreate' -%}
    {% do dbt_pgtrickle.pgtrickle_drop(existing_relation) %}
  {%- endif -%}

  {% call statement('main') -%}
    {%- if action in ['create', 'replace_relation', 'recreate'] -%}
      {{ dbt_pgtrickle.pgtrickle_create_sql(target_relation, model_sql, settings) }}
    {%- elif action == 'alter' -%}
      {{ dbt_pgtrickle.pgtrickle_alter_sql(target_relation, settings, current) }}
    {%- else -%}
      select 1
    {%- endif -%}
  {%- endcall %}
  {%- if action in ['create', 'replace_relation', 'recreate'] -%}
    {% do adapter.cache_added(target_relation) %}
  {%- endif -%}

  {% set should_revoke = should_revoke(existing_relation if action in ['none', 'alter'] else none, full_refresh_mode=(action != 'none' and action != 'alter')) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
  {% do persist_docs(target_relation, model) %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
