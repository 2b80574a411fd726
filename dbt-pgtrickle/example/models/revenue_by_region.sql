{{ config(schedule='1m', refresh_mode='DIFFERENTIAL') }}

select c.region,
       count(*) as orders,
       sum(o.amount) as revenue
  from {{ source('shop', 'orders') }} o
  join {{ source('shop', 'customers') }} c on c.id = o.customer_id
 group by c.region
