
    
    

select
    id as unique_field,
    count(*) as n_records

from "shop"."main_raw"."raw_orders"
where id is not null
group by id
having count(*) > 1


