-- Every order that was not merely placed has been paid for.
select order_id, amount
from "shop"."main"."orders"
where status <> 'placed' and amount <= 0