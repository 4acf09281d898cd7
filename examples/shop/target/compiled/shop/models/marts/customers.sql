with order_totals as (
    select
        customer_id,
        count(*) as number_of_orders,
        min(ordered_on) as first_ordered_on,
        sum(case when status <> 'returned' then amount else 0 end) as lifetime_value
    from "shop"."main"."orders"
    group by customer_id
)

select
    customers.customer_id,
    customers.full_name,
    customers.signed_up_on,
    order_totals.first_ordered_on,
    coalesce(order_totals.number_of_orders, 0) as number_of_orders,
    coalesce(order_totals.lifetime_value, 0) as lifetime_value
from "shop"."main"."stg_customers" as customers
left join order_totals using (customer_id)