
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  -- Every order that was not merely placed has been paid for.
select order_id, amount
from "shop"."main"."orders"
where status <> 'placed' and amount <= 0
  
  
      
    ) dbt_internal_test