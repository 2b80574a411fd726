{{ config(schedule=none) }}

-- No schedule: refreshed whenever revenue_by_region is (a "calculated" schedule).
select region, revenue
  from {{ ref('revenue_by_region') }}
 where revenue > 1000
