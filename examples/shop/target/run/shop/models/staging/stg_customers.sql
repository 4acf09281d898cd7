
  
  create view "shop"."main"."stg_customers__dbt_tmp" as (
    select
    id as customer_id,
    first_name,
    last_name,
    first_name || ' ' || last_name as full_name,
    email,
    cast(signed_up_on as date) as signed_up_on
from "shop"."main_raw"."raw_customers"
  );
