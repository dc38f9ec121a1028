"""Stock reservations: all items or none, never below zero, whatever runs at the same time.

Each product's stock changes only by a conditional UPDATE (stock >= wanted), so two
reservations racing for the last units cannot both succeed; a reservation's status
changes only by a conditional UPDATE too, so releasing twice gives stock back once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from products.models import Product, Reservation, ReservationItem
from shop.errors import Conflict, InsufficientStock, NotFound
from shop.schemas import utcnow


@dataclass(frozen=True)
class StockChange:
    product_id: str
    name: str
    before: int
    after: int


@dataclass(frozen=True)
class ReservedItem:
    product_id: str
    name: str
    quantity: int
    unit_price_cents: int


def reserve(session: Session, order_id: str, items: list[dict],
            ttl_seconds: float) -> tuple[list[ReservedItem], list[StockChange]]:
    """Holds stock for every item of an order, or raises and holds none. Returns what is
    held (the earlier reservation's items when the order was reserved before)."""
    existing = session.get(Reservation, order_id)
    if existing is not None:
        return _already_reserved(session, existing), []
    wanted = {item["product_id"]: item["quantity"] for item in items}
    products = {product.id: product for product in session.scalars(
        select(Product).where(Product.id.in_(wanted), Product.is_active))}
    missing = sorted(set(wanted) - set(products))
    if missing:
        raise NotFound("Some products do not exist or are no longer sold.",
                       {"product_ids": missing})
    changes, short = [], {}
    for product_id in sorted(wanted):  # one lock order for every reservation
        quantity = wanted[product_id]
        after = session.scalar(
            update(Product)
            .where(Product.id == product_id, Product.stock >= quantity)
            .values(stock=Product.stock - quantity)
            .returning(Product.stock))
        if after is None:
            short[product_id] = {"requested": quantity}
        else:
            changes.append(StockChange(product_id, products[product_id].name,
                                       after + quantity, after))
    if short:
        session.rollback()
        for product_id, shortage in short.items():
            shortage["available"] = session.get(Product, product_id).stock
        raise InsufficientStock("Not enough stock for some items.", {"items": short})
    # Taken before the commit, which expires every loaded object.
    held = [ReservedItem(product_id, products[product_id].name, quantity,
                         products[product_id].price_cents)
            for product_id, quantity in wanted.items()]
    session.add(Reservation(
        order_id=order_id, status="held", expires_at=utcnow() + timedelta(seconds=ttl_seconds),
        items=[ReservationItem(product_id=item.product_id, quantity=item.quantity,
                               unit_price_cents=item.unit_price_cents) for item in held]))
    try:
        session.commit()
    except IntegrityError:  # the same order reserved concurrently: that one stands
        session.rollback()
        return _already_reserved(session, session.get(Reservation, order_id)), []
    return held, changes


def _already_reserved(session: Session, reservation: Reservation) -> list[ReservedItem]:
    if reservation.status == "released":
        raise Conflict("This order's reservation was released; place the order again.")
    rows = session.execute(
        select(ReservationItem.product_id, Product.name, ReservationItem.quantity,
               ReservationItem.unit_price_cents)
        .join(Product, Product.id == ReservationItem.product_id)
        .where(ReservationItem.order_id == reservation.order_id))
    return [ReservedItem(*row) for row in rows]


def release(session: Session, order_id: str) -> list[StockChange]:
    """Gives a held or committed reservation's stock back; nothing if already released."""
    released = session.execute(
        update(Reservation)
        .where(Reservation.order_id == order_id,
               Reservation.status.in_(("held", "committed")))
        .values(status="released"))
    if released.rowcount == 0:
        session.rollback()
        return []
    changes = []
    for item in session.get(Reservation, order_id).items:
        after = session.scalar(
            update(Product).where(Product.id == item.product_id)
            .values(stock=Product.stock + item.quantity).returning(Product.stock))
        changes.append(StockChange(item.product_id, "", after - item.quantity, after))
    session.commit()
    return changes


def commit(session: Session, order_id: str) -> None:
    """Makes a held reservation final; committing twice is fine, a released one is not."""
    committed = session.execute(
        update(Reservation)
        .where(Reservation.order_id == order_id, Reservation.status == "held")
        .values(status="committed"))
    session.commit()
    if committed.rowcount:
        return
    reservation = session.get(Reservation, order_id)
    if reservation is None:
        raise NotFound(f"No reservation for order {order_id!r}.")
    if reservation.status == "released":
        raise Conflict("The reservation was released before the order was confirmed.")


def expired_order_ids(session: Session, now: datetime) -> list[str]:
    return list(session.scalars(select(Reservation.order_id).where(
        Reservation.status == "held", Reservation.expires_at < now)))
