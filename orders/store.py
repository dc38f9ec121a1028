"""The orders tables in SQLAlchemy Core, for the hot paths (placing, reading, listing):
statements compiled once, plain rows, no ORM objects to build and expire."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Connection

from orders.models import Order, OrderItem
from shop.database import table_of
from shop.money import from_cents

PENDING, PLACED, FAILED, CANCELLED = "pending", "placed", "failed", "cancelled"
# Orders that are not (yet, or ever) placed: saga state that no buyer or admin sees.
HIDDEN = (PENDING, FAILED)

ORDERS, ITEMS = table_of(Order), table_of(OrderItem)
BY_ID = select(ORDERS).where(ORDERS.c.id == bindparam("order_id"),
                             ORDERS.c.status.not_in(HIDDEN))
BY_KEY = select(ORDERS).where(ORDERS.c.user_id == bindparam("user_id"),
                              ORDERS.c.idempotency_key == bindparam("key"))
ITEMS_OF = (select(ITEMS).where(ITEMS.c.order_id.in_(bindparam("order_ids", expanding=True)))
            .order_by(ITEMS.c.id))


def item_view(item: Mapping) -> dict:
    unit_price = from_cents(item["unit_price_cents"])
    return {"product_id": item["product_id"], "name": item["name"], "unit_price": unit_price,
            "quantity": item["quantity"], "line_total": unit_price * item["quantity"]}


def order_view(order: Mapping, items: Iterable[Mapping]) -> dict:
    """An order as OrderSchema dumps it, from its row and its items' rows."""
    return {**order, "total": from_cents(order["total_cents"]),
            "items": [item_view(item) for item in items]}


def read(connection: Connection, order_id: str) -> dict | None:
    """A placed order (in any later state too), or None."""
    order = connection.execute(BY_ID, {"order_id": order_id}).mappings().first()
    if order is None:
        return None
    return order_view(order, connection.execute(ITEMS_OF, {"order_ids": [order_id]}).mappings())


def read_page(connection: Connection, matching: Select, paging: dict) -> tuple[list[dict], int]:
    """One page of the orders matching, newest first, with their items; and the total."""
    matching = matching.where(ORDERS.c.status.not_in(HIDDEN))
    total = connection.scalar(select(func.count()).select_from(matching.subquery())) or 0
    orders = connection.execute(matching.order_by(ORDERS.c.created_at.desc(), ORDERS.c.id)
                                .offset((paging["page"] - 1) * paging["limit"])
                                .limit(paging["limit"])).mappings().all()
    items: dict[str, list] = {order["id"]: [] for order in orders}
    if items:
        for item in connection.execute(ITEMS_OF, {"order_ids": list(items)}).mappings():
            items[item["order_id"]].append(item)
    return [order_view(order, items[order["id"]]) for order in orders], total
