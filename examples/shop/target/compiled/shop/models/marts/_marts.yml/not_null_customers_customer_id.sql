
    
    



select customer_id
from "shop"."main"."customers"
where customer_id is null


