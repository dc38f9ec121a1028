"""The orders service: its RPC methods. Run with `nameko run --config config.yml orders.service`."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from contracts.orders import (
    IdempotencyKeySchema,
    NewOrderSchema,
    OrderQuerySchema,
    OrderSchema,
    StatusSchema,
    fingerprint,
)
from orders import store
from orders.models import Answers, Base, Order
from orders.placement import UNREACHABLE, OrderPlacement
from orders.settings import OrdersSettings
from orders.store import CANCELLED, FAILED, HIDDEN, ORDERS, PENDING
from shop import health
from shop.database import Database
from shop.entrypoints import rpc_method
from shop.errors import Conflict, Forbidden, NotFound
from shop.idempotency import IdempotentAnswers, after_commit, idempotent
from shop.outbox import EventOutbox
from shop.rpc import DeadlineRpc
from shop.schemas import (
    acts_for,
    is_admin,
    load,
    load_actor,
    load_author,
    no_such,
    page_of,
    parse_id,
    utcnow,
)
from shop.settings import SettingsProvider
from shop.timers import every

log = logging.getLogger(__name__)

NEXT_STATUS = {"placed": "paid", "paid": "shipped", "shipped": "delivered"}
CANCELLABLE_BY_OWNER = ("placed", "paid")
CANCELLABLE_BY_ADMIN = ("placed", "paid", "shipped")
# Longer than any placement can run (its one call to products has a deadline), so only
# a placement that stopped half-way leaves an order pending this long.

NEW_ORDER, IDEMPOTENCY_KEY, QUERY = NewOrderSchema(), IdempotencyKeySchema(), OrderQuerySchema()
ORDER = OrderSchema()


class OrdersService(health.DatabaseHealth):
    name = "orders"

    db = Database(Base)
    rpc = DeadlineRpc()
    outbox = EventOutbox(Base)
    answers = IdempotentAnswers(Answers)
    settings = SettingsProvider(OrdersSettings)

    @rpc_method
    def place_order(self, data: dict, actor: dict, idempotency_key: str | None = None) -> dict:
        """Places an order for actor. data: {"items": [{"product_id", "quantity"}],
        "shipping_address": {"line1", "line2"?, "city", "postal_code", "country"}}; lines
        for the same product are merged. Returns {"order", "replayed"}: replayed is true
        when idempotency_key names an order this user placed before with the same data.
        Raises InvalidInput, NotFound, InsufficientStock, IdempotencyKeyReused, or
        ServiceUnavailable when products cannot be reached."""
        buyer = load_author(actor)
        request = load(NEW_ORDER, data)
        key = load(IDEMPOTENCY_KEY, {"key": idempotency_key})["key"]
        order, replayed = OrderPlacement(
            self.db, self.rpc.products, partial(self._announce, "order_placed"),
            buyer["id"], request, fingerprint(request), key).run()
        return {"order": ORDER.dump(order), "replayed": replayed}

    @rpc_method
    def get_order(self, order_id: str, actor: dict) -> dict:
        """Returns an order to its buyer or an admin (anyone else: NotFound)."""
        actor = load_actor(actor)
        with self.db.autocommit.connect() as connection:
            order = store.read(connection, parse_id(order_id, "order"))
        if order is None or not acts_for(actor, order["user_id"]):
            raise no_such("order", order_id)  # others' orders stay unseen
        return ORDER.dump(order)

    @rpc_method
    def list_orders(self, actor: dict, page: int = 1, limit: int = 20,
                    status: str | None = None, user_id: str | None = None) -> dict:
        """Returns a page of orders, newest first: the actor's own, or anyone's for an
        admin (filter with user_id). Optional status filter."""
        actor = load_actor(actor)
        query = load(QUERY, {key: value for key, value in {
            "page": page, "limit": limit, "status": status, "user_id": user_id}.items()
            if value is not None})
        owner = str(query["user_id"]) if "user_id" in query else None
        if not is_admin(actor):
            if owner not in (None, actor["id"]):
                raise Forbidden("Only an admin may list another user's orders.")
            owner = actor["id"]
        matching = select(ORDERS)
        if owner is not None:
            matching = matching.where(ORDERS.c.user_id == owner)
        if "status" in query:
            matching = matching.where(ORDERS.c.status == query["status"])
        with self.db.autocommit.connect() as connection:
            orders, total = store.read_page(connection, matching, query)
        return page_of(ORDER.dump(orders, many=True), query["page"], query["limit"], total)

    @rpc_method
    def get_order_details(self, order_id: str, actor: dict) -> dict:
        """Returns {"order", "buyer", "products"}: the order with its buyer's public profile
        and each item's current product (None if no longer sold): two calls in parallel,
        whatever the number of lines. A part whose service is unreachable is None and
        named in "unavailable"."""
        order = self._visible_order(order_id, load_actor(actor))
        product_ids = [item.product_id for item in order.items]
        buyer = self.rpc.users.get_user.call_async(order.user_id)
        products = self.rpc.products.get_many.call_async(product_ids)
        unavailable: set[str] = set()
        found = _settle(products, "products", unavailable) or {}
        return {
            "order": ORDER.dump(order),
            "buyer": _settle(buyer, "users", unavailable),
            "products": {product_id: found.get(product_id) for product_id in product_ids},
            "unavailable": sorted(unavailable),
        }

    @rpc_method
    @idempotent
    def cancel_order(self, order_id: str, actor: dict) -> dict:
        """Cancels an order: its buyer while placed or paid, an admin until delivered.
        The stock goes back to the catalogue. Conflict for any other state."""
        actor = load_actor(actor)
        order = self._visible_order(order_id, actor)
        allowed = CANCELLABLE_BY_ADMIN if is_admin(actor) else CANCELLABLE_BY_OWNER
        if order.status not in allowed:
            raise Conflict(f"An order that is {order.status} cannot be cancelled"
                           + ("." if is_admin(actor) else " by its buyer."))
        self._move(order, "cancelled", "order_cancelled")
        # Once the cancellation stands; should this call fail, settle_orders retries it.
        after_commit(self.db.session, partial(self._release_stock, order))
        return ORDER.dump(order)

    @rpc_method
    @idempotent
    def set_status(self, order_id: str, status: str, actor: dict) -> dict:
        """Admin only: moves an order forward, placed → paid → shipped → delivered."""
        if not is_admin(load_actor(actor)):
            raise Forbidden("Only an admin may change an order's status.")
        target = load(StatusSchema(), {"status": status})["status"]
        order = self._get(order_id)
        if NEXT_STATUS.get(order.status) != target:
            raise Conflict(f"An order that is {order.status} cannot become {target}.")
        self._move(order, target, "order_status_changed", status=target)
        return ORDER.dump(order)

    @every(OrdersSettings, "stock_release_retry_seconds")
    def settle_orders(self) -> None:
        """Fails orders left pending by a placement that stopped half-way, and gives back
        the stock of failed and cancelled orders whose release did not get through yet."""
        stalled = utcnow() - timedelta(seconds=self.settings.order_pending_seconds)
        session = self.db.session
        session.execute(update(Order).where(Order.status == PENDING, Order.created_at < stalled)
                        .values(status=FAILED, idempotency_key=None, stock_released=False))
        session.commit()
        for order in session.scalars(select(Order).where(
                Order.status.in_((CANCELLED, FAILED)), Order.stock_released.is_(False))
                .limit(100)):
            self._release_stock(order)

    def _release_stock(self, order: Order) -> None:
        try:
            self.rpc.products.release_stock(order.id)
        except UNREACHABLE as error:
            log.warning("stock of cancelled order %s not yet released: %s", order.id, error)
            return
        if order.status == FAILED:  # it has nothing left to tell anyone
            self.db.session.delete(order)
        else:
            order.stock_released = True
        self.db.session.commit()

    def _move(self, order: Order, target: str, event_type: str, **announced: str) -> None:
        """Changes status only if no one else changed it meanwhile, and writes event_type
        in the same transaction (with the previous status)."""
        session = self.db.session
        current = order.status
        moved = session.execute(
            update(Order).where(Order.id == order.id, Order.status == current)
            .values(status=target))
        if moved.rowcount == 0:
            session.rollback()
            raise Conflict("The order changed meanwhile; read it again.")
        self.outbox.add(session, event_type, {"id": order.id, "user_id": order.user_id,
                                              **announced, "previous_status": current})
        session.refresh(order)  # as changed, in this transaction (@idempotent commits it)

    def _announce(self, event_type: str, connection: Connection,
                  payload: dict[str, Any]) -> None:
        self.outbox.add(connection, event_type, payload)

    def _get(self, order_id: str) -> Order:
        order = self.db.get(Order, order_id, "order")
        if order.status in HIDDEN:  # pending and failed orders are never shown
            raise no_such("order", order_id)
        return order

    def _visible_order(self, order_id: str, actor: dict) -> Order:
        order = self._get(order_id)
        if not acts_for(actor, order.user_id):
            raise no_such("order", order_id)  # others' orders stay unseen
        return order


def _settle(reply, service: str, unavailable: set):
    """A parallel call's result; None if gone (NotFound) or its service is unreachable."""
    try:
        return reply.result()
    except NotFound:
        return None
    except UNREACHABLE:
        unavailable.add(service)
        return None
