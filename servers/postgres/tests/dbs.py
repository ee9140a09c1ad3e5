"""A fresh database per test module, with a small known schema."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SCHEMA = """
create type mood as enum ('happy', 'sad');
create table customers (
    id serial primary key,
    name text not null,
    email text unique,
    mood mood default 'happy'
);
comment on table customers is 'People who buy things';
comment on column customers.email is 'Where to write';
create table orders (
    id bigserial primary key,
    customer_id int references customers(id),
    total numeric(12, 2) not null check (total >= 0),
    placed timestamptz not null default '2026-01-02 03:04:05+00',
    wait interval default '1 day 02:03:04',
    token uuid default '6f1d2b3c-0000-4000-8000-000000000001',
    blob bytea default '\\xdeadbeef',
    tags text[] default '{a,b}',
    data jsonb default '{"k": [1, 2]}',
    span int4range default '[1,5)',
    day date default '2026-01-02',
    ratio double precision default 0.5,
    big bigint default 9007199254740993
);
create index orders_customer on orders (customer_id);
create view big_orders as select * from orders where total > 100;
create materialized view order_totals as select customer_id, sum(total) as total from orders group by 1;
create schema reporting;
create table reporting.daily (day date primary key, revenue numeric);
create function reporting.revenue(d date) returns numeric language sql stable as 'select 1.0';
insert into customers (name, email) select 'customer ' || g, 'c' || g || '@example.com' from generate_series(1, 50) g;
insert into orders (customer_id, total) select 1 + g % 50, g * 1.5 from generate_series(1, 300) g;
"""


@contextmanager
def fresh_database(postgres: Any, prefix: str = "t") -> Iterator[str]:
    """A new database with SCHEMA, dropped afterwards; yields its name."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    postgres.execute(f'create database "{name}"')
    try:
        postgres.execute(SCHEMA, database=name)
        yield name
    finally:
        postgres.execute(f'drop database if exists "{name}" with (force)')
