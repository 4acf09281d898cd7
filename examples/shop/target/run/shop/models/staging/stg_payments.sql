
  
  create view "shop"."main"."stg_payments__dbt_tmp" as (
    select
    id as payment_id,
    order_id,
    method,
    amount_cents / 100.0 as amount
from "shop"."main_raw"."raw_payments"
  );
