
  
  create view "shop"."main"."stg_orders__dbt_tmp" as (
    select
    id as order_id,
    customer_id,
    ordered_at,
    cast(ordered_at as date) as ordered_on,
    status
from "shop"."main_raw"."raw_orders"
  );
