"""Placing an order, as a saga across two services:

    reserve stock (products) → save the order at the reserved prices → commit the
    reservation (products) → announce order_placed

A failure after the reservation releases it (compensation) and leaves no order behind.
If products cannot be reached, the reservation request expires unread in its queue and
any reservation that was made anyway is released by the products service's sweep.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orders.models import Order, OrderItem
from shop.errors import Conflict, IdempotencyKeyReused, ServiceTimeout, ServiceUnavailable
from shop.money import cents

log = logging.getLogger(__name__)
UNREACHABLE = (ServiceUnavailable, ServiceTimeout)


IDEMPOTENT_ORDERS = uuid.UUID("6f0d5d7e-8a43-4f7e-9d55-0b8e0f6c1a52")


def order_id_for(user_id: str, idempotency_key: str | None, fingerprint: str) -> str:
    """A new id, or, under an Idempotency-Key, the same id for every replay of one body.

    Replays that arrive together then share one reservation (products reserves once per
    order id) instead of each holding stock until the first one is saved.
    """
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(IDEMPOTENT_ORDERS, f"{user_id}:{idempotency_key}:{fingerprint}"))


class OrderPlacement:
    """One attempt to place one user's order."""

    def __init__(self, session: Session, products, user_id: str, request: dict,
                 fingerprint: str, idempotency_key: str | None):
        self.session = session
        self.products = products
        self.user_id = user_id
        self.request = request
        self.fingerprint = fingerprint
        self.idempotency_key = idempotency_key
        self.order_id = order_id_for(user_id, idempotency_key, fingerprint)

    def run(self) -> tuple[Order, bool]:
        """Returns (the order, whether it was placed earlier under the same key)."""
        earlier = self.earlier_order()
        if earlier is not None:
            return earlier, True
        reservation = self.reserve()
        try:
            order = self.save(reservation)
        except IntegrityError:  # the same key won a race with us: that order stands
            self.session.rollback()
            earlier = self.earlier_order()
            if earlier.id != self.order_id:  # a reservation of our own, not the winner's
                self.release()
            return earlier, True
        except Exception:
            self.session.rollback()
            self.release()
            raise
        self.confirm(order)
        return order, False

    def earlier_order(self) -> Order | None:
        if self.idempotency_key is None:
            return None
        order = self.session.scalar(select(Order).where(
            Order.user_id == self.user_id, Order.idempotency_key == self.idempotency_key))
        if order is not None and order.request_fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used for a different order.",
                {"idempotency_key": ["Already used with another body."]})
        return order

    def reserve(self) -> dict:
        try:
            try:
                return self.products.reserve_stock(self.order_id, self.request["items"])
            except Conflict:  # an earlier failed try under this key gave its hold back
                self.order_id = str(uuid.uuid4())
                return self.products.reserve_stock(self.order_id, self.request["items"])
        except UNREACHABLE:
            self.release(wait=False)
            raise ServiceUnavailable("Products cannot be reserved right now; try again.",
                                     {"service": "products"}) from None

    def save(self, reservation: dict) -> Order:
        items = [OrderItem(product_id=item["product_id"], name=item["name"],
                           unit_price_cents=cents(item["unit_price"]),
                           quantity=item["quantity"])
                 for item in reservation["items"]]
        order = Order(id=self.order_id, user_id=self.user_id, status="placed",
                      total_cents=sum(i.unit_price_cents * i.quantity for i in items),
                      shipping_address=self.request["shipping_address"],
                      idempotency_key=self.idempotency_key,
                      request_fingerprint=self.fingerprint, items=items)
        self.session.add(order)
        # Every value was just written here: reading them back after the commit (what
        # expiring does) would cost two queries for nothing.
        self.session.expire_on_commit = False
        try:
            self.session.commit()
        finally:
            self.session.expire_on_commit = True
        return order

    def confirm(self, order: Order) -> None:
        try:
            self.products.commit_reservation(self.order_id)
        except Exception as error:
            self.session.delete(order)
            self.session.commit()
            self.release(wait=not isinstance(error, UNREACHABLE))
            if isinstance(error, UNREACHABLE):
                raise ServiceUnavailable("The order could not be confirmed; try again.",
                                         {"service": "products"}) from None
            raise

    def release(self, wait: bool = True) -> None:
        """Compensation: gives the reservation back. Never raises; the products sweep
        releases whatever this misses."""
        try:
            if wait:
                self.products.release_stock(self.order_id)
            else:
                self.products.release_stock.call_async(self.order_id).forget()
        except UNREACHABLE as error:
            log.warning("could not release the reservation of order %s now: %s",
                        self.order_id, error)
