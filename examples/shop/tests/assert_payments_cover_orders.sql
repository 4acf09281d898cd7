-- Every order that was not merely placed has been paid for.
select order_id, amount
from {{ ref('orders') }}
where status <> 'placed' and amount <= 0
