
    
    



select amount
from "shop"."main"."orders"
where amount is null


