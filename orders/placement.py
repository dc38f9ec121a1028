"""Placing an order, with one synchronous call to products:

    save the order as pending → take its stock (products, one call) → mark it placed
    at the prices products answered → announce order_placed

The pending row comes first so that no stock is ever taken for an order nobody will
finish. If the placement stops anywhere after it (an error, products unreachable, this
process killed), the order becomes `failed` and its stock is released: at once when
possible, else by the service's timer, which also fails orders left pending longer than
ORDER_PENDING_SECONDS. A release that overtakes its take leaves a tombstone in products,
so the late take is refused. Pending and failed orders are never shown.

Under an Idempotency-Key the pending row is claimed once per user and key: replays that
arrive together find it and finish the same order (products takes once per order id),
and exactly one of them moves it to placed, announces it and answers "not replayed".
A failed order gives its key up, so a retry after a 503 places the order afresh.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from sqlalchemy import delete, insert, update
from sqlalchemy.engine import Connection

from orders import store
from orders.store import FAILED, ITEMS, ORDERS, PENDING, PLACED
from shop.database import DatabaseWrapper, insert_unless_present
from shop.errors import (
    Conflict,
    IdempotencyKeyReused,
    InsufficientStock,
    NotFound,
    ServiceTimeout,
    ServiceUnavailable,
)
from shop.money import cents, from_cents
from shop.schemas import utcnow

log = logging.getLogger(__name__)
UNREACHABLE = (ServiceUnavailable, ServiceTimeout)
REFUSALS = (InsufficientStock, NotFound)  # products took nothing, and said why


class OrderPlacement:
    """One attempt to place one user's order."""

    def __init__(self, db: DatabaseWrapper, products,
                 announce: Callable[[Connection, dict], object],
                 user_id: str, request: dict, fingerprint: str, idempotency_key: str | None):
        # Every statement here stands alone (the conditional ones decide who wins), so
        # none pays for a BEGIN and a COMMIT: three round trips to place an order.
        self.db = db
        self.products = products
        self.announce = announce
        self.user_id = user_id
        self.request = request
        self.fingerprint = fingerprint
        self.idempotency_key = idempotency_key

    def run(self) -> tuple[dict, bool]:
        """Returns (the order as OrderSchema dumps it, whether it was placed before)."""
        for _ in range(2):
            earlier = self.claim()
            if earlier is not None:
                return earlier, True
            try:
                taken = self.products.take_stock(self.order_id, self.request["items"])
            except Conflict:  # this order's stock was given back first: place it afresh
                self.give_up(release=False)
                continue
            except REFUSALS:
                self.give_up(release=False)
                raise
            except UNREACHABLE:
                placed = self.give_up(release=True, wait=False)
                if placed is not None:
                    return placed, True
                raise ServiceUnavailable("Products cannot take the stock right now; try "
                                         "again.", {"service": "products"}) from None
            except Exception:
                self.give_up(release=True)
                raise
            try:
                return self.finish(taken)
            except Exception:
                self.give_up(release=True)
                raise
        raise ServiceUnavailable("The order could not be placed; try again.",
                                 {"service": "products"})

    def claim(self) -> dict | None:
        """Saves the order as pending under a new id, or, when this key was used before,
        returns that placed order or takes over that pending one."""
        self.order_id = str(uuid.uuid4())
        self.created_at = utcnow()
        row = {"id": self.order_id, "user_id": self.user_id, "status": PENDING,
               "total_cents": 0, "shipping_address": self.request["shipping_address"],
               "idempotency_key": self.idempotency_key,
               "request_fingerprint": self.fingerprint, "stock_released": False,
               "created_at": self.created_at, "updated_at": self.created_at}
        if self.idempotency_key is None:
            with self.db.autocommit.connect() as connection:
                connection.execute(insert(ORDERS), row)
            return None
        earlier = None
        while earlier is None:
            with self.db.autocommit.connect() as connection:
                if connection.execute(insert_unless_present(connection, ORDERS),
                                      row).rowcount:
                    return None
                # None if that order failed and gave its key up just now: claim again.
                earlier = connection.execute(store.BY_KEY, {
                    "user_id": self.user_id, "key": self.idempotency_key}).mappings().first()
        if earlier["request_fingerprint"] != self.fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used for a different order.",
                {"idempotency_key": ["Already used with another body."]})
        if earlier["status"] == PENDING:  # a replay still running: finish it with them
            self.order_id, self.created_at = earlier["id"], earlier["created_at"]
            return None
        with self.db.autocommit.connect() as connection:
            return store.read(connection, earlier["id"])

    def finish(self, taken: dict) -> tuple[dict, bool]:
        """Marks the order placed with what was taken and writes order_placed in the same
        transaction; (the order, False). If a parallel replay placed it first: (that
        order, True)."""
        items = [{"order_id": self.order_id, "product_id": item["product_id"],
                  "name": item["name"], "unit_price_cents": cents(item["unit_price"]),
                  "quantity": item["quantity"]} for item in taken["items"]]
        total = sum(item["unit_price_cents"] * item["quantity"] for item in items)
        now = utcnow()
        with self.db.engine.begin() as connection:
            # Items first: a replay finishing the same order adds none (one row per
            # product), and items of an order that never becomes placed go with it.
            connection.execute(insert_unless_present(connection, ITEMS), items)
            placed = connection.execute(
                update(ORDERS).where(ORDERS.c.id == self.order_id, ORDERS.c.status == PENDING)
                .values(status=PLACED, total_cents=total, updated_at=now)).rowcount
            if placed:
                self.announce(connection, {
                    "id": self.order_id, "user_id": self.user_id,
                    "total": str(from_cents(total)),
                    "item_count": sum(item["quantity"] for item in items)})
            else:
                earlier = store.read(connection, self.order_id)
        if not placed:
            if earlier is None:  # given up meanwhile (the sweep): its stock goes back
                raise ServiceUnavailable("The order could not be completed; try again.",
                                         {"service": "products"})
            return earlier, True
        return store.order_view({
            "id": self.order_id, "user_id": self.user_id, "status": PLACED,
            "total_cents": total, "shipping_address": self.request["shipping_address"],
            "created_at": self.created_at, "updated_at": now}, items), False

    def give_up(self, release: bool, wait: bool = True) -> dict | None:
        """Fails the pending order, and gives back whatever stock it may hold (a take
        that timed out may still happen). Returns the order instead if a parallel replay
        placed it meanwhile. Never raises for products: the timer retries the release."""
        with self.db.autocommit.connect() as connection:
            if not release and self.idempotency_key is None:
                # Refused, and no replay can know this id: nothing to give back.
                connection.execute(delete(ORDERS).where(ORDERS.c.id == self.order_id,
                                                        ORDERS.c.status == PENDING))
                return None
            failed = connection.execute(
                update(ORDERS).where(ORDERS.c.id == self.order_id, ORDERS.c.status == PENDING)
                .values(status=FAILED, idempotency_key=None, stock_released=False,
                        updated_at=utcnow())).rowcount
            if not failed:
                return store.read(connection, self.order_id)
        if release:
            self.release(wait)
        return None

    def release(self, wait: bool) -> None:
        """Gives the failed order's stock back, waiting for products to confirm (then the
        order is forgotten) or not (when products just failed to answer). Whatever does
        not get through is the timer's to retry."""
        try:
            if not wait:
                self.products.release_stock.call_async(self.order_id).forget()
                return
            self.products.release_stock(self.order_id)
        except UNREACHABLE as error:
            log.warning("stock of failed order %s not released yet: %s", self.order_id, error)
            return
        with self.db.autocommit.connect() as connection:
            connection.execute(delete(ORDERS).where(ORDERS.c.id == self.order_id,
                                                    ORDERS.c.status == FAILED))
