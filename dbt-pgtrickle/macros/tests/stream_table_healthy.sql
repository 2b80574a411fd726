{#-
  A generic test for stream table models:

    models:
      - name: orders_by_region
        data_tests:
          - dbt_pgtrickle.stream_table_healthy:
              arguments:
                max_staleness: '10 minutes'   # optional

  Fails (one row per problem) when the model is not a stream table, is not ACTIVE, has never
  been populated, or (with max_staleness) was last refreshed longer ago than that.
-#}
{% test stream_table_healthy(model, max_staleness=none) %}
  with st as (
      select s.status, s.is_populated, s.last_refresh_at
        from pgtrickle.pgt_stream_tables s
       where s.pgt_relid = pg_catalog.to_regclass({{ dbt_pgtrickle.pgtrickle_literal(model.include(database=false).render()) }})
  )
  select 'not a stream table' as problem
   where not exists (select 1 from st)
  union all
  select 'status ' || st.status from st where st.status <> 'ACTIVE'
  union all
  select 'never populated' from st where not st.is_populated
  {% if max_staleness is not none %}
  union all
  select 'last refreshed at ' || coalesce(st.last_refresh_at::text, 'never')
    from st
   where st.last_refresh_at is null
      or st.last_refresh_at < pg_catalog.now() - {{ dbt_pgtrickle.pgtrickle_literal(max_staleness) }}::interval
  {% endif %}
{% endtest %}
