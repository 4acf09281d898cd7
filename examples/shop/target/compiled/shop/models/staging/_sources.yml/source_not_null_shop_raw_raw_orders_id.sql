
    
    



select id
from "shop"."main_raw"."raw_orders"
where id is null


