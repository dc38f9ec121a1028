"""Stock taken by orders: all items or none, never below zero, whatever runs at the same time.

An order takes its stock in one call, keyed by the order's id: the first take claims the
order's row in `reservations`, so the same order id taken again (a retry, a replay) gets
the first answer back and takes nothing more. Each product's stock changes only by a
conditional UPDATE (stock >= wanted), so two orders racing for the last units cannot both
succeed. Releasing is keyed the same way and gives stock back once; a release that comes
first leaves a tombstone, so the late take is refused. SQLAlchemy Core throughout: the
placement path runs four statements and builds no ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from products.models import Product, Reservation, ReservationItem
from shop.database import insert_unless_present
from shop.errors import Conflict, InsufficientStock, NotFound
from shop.schemas import utcnow

TAKEN, RELEASED = "taken", "released"

TAKE_ONE = (
    update(Product)
    .where(Product.id == bindparam("product_id"), Product.is_active,
           Product.stock >= bindparam("quantity"))
    .values(stock=Product.stock - bindparam("quantity"))
    .returning(Product.name, Product.price_cents, Product.stock))
GIVE_BACK_ONE = (
    update(Product).where(Product.id == bindparam("product_id"))
    .values(stock=Product.stock + bindparam("quantity"))
    .returning(Product.stock))
ITEMS_TAKEN = (
    select(ReservationItem.product_id, Product.name, ReservationItem.quantity,
           ReservationItem.unit_price_cents)
    .join(Product, Product.id == ReservationItem.product_id)
    .where(ReservationItem.order_id == bindparam("order_id")))


@dataclass(frozen=True)
class StockChange:
    product_id: str
    name: str
    before: int
    after: int


@dataclass(frozen=True)
class TakenItem:
    product_id: str
    name: str
    quantity: int
    unit_price_cents: int


class _Refused(Exception):
    """Some items could not be taken; the transaction rolls back."""

    def __init__(self, product_ids: list[str]):
        self.product_ids = product_ids


Announce = Callable[[Connection, list[StockChange]], None]


def take(engine: Engine, order_id: str, wanted: dict[str, int],
         announce: Announce) -> list[TakenItem]:
    """Takes every wanted {product_id: quantity} for the order, or raises and takes none;
    announce(connection, changes) writes the events of the changes in the same
    transaction. Returns what the order holds: the first take's items if it was taken
    before."""
    try:
        with engine.begin() as connection:
            claimed = connection.execute(insert_unless_present(connection, Reservation).values(
                order_id=order_id, status=TAKEN, created_at=utcnow())).rowcount
            if not claimed:
                return _taken_before(connection, order_id)
            taken, changes, refused = [], [], []
            for product_id in sorted(wanted):  # one lock order for every take
                quantity = wanted[product_id]
                row = connection.execute(TAKE_ONE, {"product_id": product_id,
                                                    "quantity": quantity}).first()
                if row is None:
                    refused.append(product_id)
                    continue
                taken.append(TakenItem(product_id, row.name, quantity, row.price_cents))
                changes.append(StockChange(product_id, row.name, row.stock + quantity,
                                           row.stock))
            if refused:
                raise _Refused(refused)
            connection.execute(insert(ReservationItem), [
                {"order_id": order_id, "product_id": item.product_id,
                 "quantity": item.quantity, "unit_price_cents": item.unit_price_cents}
                for item in taken])
            announce(connection, changes)
        return taken
    except _Refused as refusal:
        raise _refusal(engine, wanted, refusal.product_ids) from None


def _taken_before(connection, order_id: str) -> list[TakenItem]:
    status = connection.scalar(select(Reservation.status).where(
        Reservation.order_id == order_id))
    if status == RELEASED:
        raise Conflict("This order's stock was given back; place the order again.")
    return [TakenItem(*row) for row in connection.execute(ITEMS_TAKEN, {"order_id": order_id})]


def _refusal(engine: Engine, wanted: dict[str, int], refused: list[str]) -> Exception:
    """Why the take was refused: products unknown or off sale first, else every item
    that is short, with what is available now."""
    with engine.connect() as connection:
        on_sale = dict(connection.execute(select(Product.id, Product.stock).where(
            Product.id.in_(refused), Product.is_active)).all())
    missing = sorted(set(refused) - set(on_sale))
    if missing:
        return NotFound("Some products do not exist or are no longer sold.",
                        {"product_ids": missing})
    return InsufficientStock("Not enough stock for some items.", {"items": {
        product_id: {"requested": wanted[product_id], "available": on_sale[product_id]}
        for product_id in refused}})


def release(engine: Engine, order_id: str, announce: Announce) -> bool:
    """Gives an order's taken stock back, announcing the changes in the same transaction;
    nothing if it was given back already or never taken (then a later take of this order
    is refused). Whether anything was given back."""
    with engine.begin() as connection:
        released = connection.execute(
            update(Reservation)
            .where(Reservation.order_id == order_id, Reservation.status == TAKEN)
            .values(status=RELEASED)).rowcount
        if not released:
            connection.execute(insert_unless_present(connection, Reservation).values(
                order_id=order_id, status=RELEASED, created_at=utcnow()))
            return False
        changes = []
        for product_id, quantity in connection.execute(
                select(ReservationItem.product_id, ReservationItem.quantity)
                .where(ReservationItem.order_id == order_id)).all():
            after = connection.scalar(GIVE_BACK_ONE, {"product_id": product_id,
                                                      "quantity": quantity})
            if after is not None:  # None: the product is gone, and its stock with it
                changes.append(StockChange(product_id, "", after - quantity, after))
        announce(connection, changes)
        return True
