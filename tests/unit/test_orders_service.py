"""The order saga and lifecycle rules, with worker_factory: real SQLite, products faked."""

import uuid
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from orders.models import Base, Order
from orders.placement import order_id_for
from orders.service import OrdersService
from shop.errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    NotFound,
    ServiceTimeout,
)

BUYER = {"id": str(uuid.uuid4()), "role": "user"}
ADMIN = {"role": "admin"}
LAMP, MUG = str(uuid.uuid4()), str(uuid.uuid4())
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "de"}


@pytest.fixture
def service(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/orders.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        worker = worker_factory(OrdersService, db=SimpleNamespace(session=session))
        products = worker.rpc.products
        products.reserve_stock.side_effect = lambda order_id, items: {
            "order_id": order_id, "items": [
                {**item, "name": "Lamp" if item["product_id"] == LAMP else "Mug",
                 "unit_price": "19.99" if item["product_id"] == LAMP else "8.50"}
                for item in items]}
        yield worker
    engine.dispose()


def place(service, items=None, actor=BUYER, key=None, address=ADDRESS):
    items = items or [{"product_id": LAMP, "quantity": 2}, {"product_id": MUG, "quantity": 1}]
    return service.place_order({"items": items, "shipping_address": address}, actor=actor,
                               idempotency_key=key)


def orders_in(service):
    return service.db.session.query(Order).count()


def test_an_order_is_saved_at_the_reserved_prices_and_announced(service):
    result = place(service)
    order = result["order"]
    assert result["replayed"] is False and order["status"] == "placed"
    assert order["total"] == "48.48"
    assert {(i["name"], i["unit_price"], i["quantity"], i["line_total"]) for i in order["items"]} \
        == {("Lamp", "19.99", 2, "39.98"), ("Mug", "8.50", 1, "8.50")}
    assert order["shipping_address"]["country"] == "DE"
    service.rpc.products.commit_reservation.assert_called_once_with(order["id"])
    service.dispatch.assert_called_once_with("order_placed", {
        "id": order["id"], "user_id": BUYER["id"], "total": "48.48", "item_count": 3})


def test_lines_for_the_same_product_are_merged(service):
    place(service, [{"product_id": LAMP, "quantity": 2}, {"product_id": LAMP, "quantity": 3}])
    (_, items), _ = service.rpc.products.reserve_stock.call_args
    assert items == [{"product_id": LAMP, "quantity": 5}]


@pytest.mark.parametrize("items", [
    [], [{"product_id": LAMP, "quantity": 0}], [{"product_id": LAMP, "quantity": 1001}],
    [{"product_id": LAMP, "quantity": 600}, {"product_id": LAMP, "quantity": 600}],
    [{"product_id": "lamp", "quantity": 1}], [{"product_id": LAMP, "quantity": 1.5}],
])
def test_bad_items_are_invalid_and_reserve_nothing(service, items):
    with pytest.raises(InvalidInput):
        service.place_order({"items": items, "shipping_address": ADDRESS}, actor=BUYER)
    service.rpc.products.reserve_stock.assert_not_called()


@pytest.mark.parametrize("change", [{"country": "XX"}, {"country": "Germany"}, {"city": ""},
                                    {"postal_code": "<script>"}, {"line1": " "}])
def test_bad_addresses_are_invalid(service, change):
    with pytest.raises(InvalidInput) as error:
        place(service, address={**ADDRESS, **change})
    assert "shipping_address" in error.value.details


def test_insufficient_stock_leaves_no_order(service):
    service.rpc.products.reserve_stock.side_effect = InsufficientStock("short", {"items": {}})
    with pytest.raises(InsufficientStock):
        place(service)
    assert orders_in(service) == 0
    service.rpc.products.release_stock.assert_not_called()


def test_a_failure_after_the_reservation_releases_it(service, monkeypatch):
    from orders import placement
    monkeypatch.setattr(placement.OrderPlacement, "save",
                        MagicMock(side_effect=RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        place(service)
    (order_id, _), _ = service.rpc.products.reserve_stock.call_args
    service.rpc.products.release_stock.assert_called_once_with(order_id)
    service.dispatch.assert_not_called()


def test_a_refused_commit_removes_the_order_and_releases(service):
    service.rpc.products.commit_reservation.side_effect = Conflict("released meanwhile")
    with pytest.raises(Conflict):
        place(service)
    assert orders_in(service) == 0
    service.rpc.products.release_stock.assert_called_once()


def test_unreachable_products_is_503_and_the_release_is_sent_anyway(service):
    service.rpc.products.reserve_stock.side_effect = ServiceTimeout("slow")
    with pytest.raises(Exception) as error:
        place(service)
    assert type(error.value).__name__ == "ServiceUnavailable"
    service.rpc.products.release_stock.call_async.assert_called_once()
    assert orders_in(service) == 0


def test_an_idempotency_key_names_one_order_id_per_user_and_body():
    one = order_id_for("u1", "k", "body-1")
    assert one == order_id_for("u1", "k", "body-1")  # replays share one reservation
    others = {order_id_for("u2", "k", "body-1"), order_id_for("u1", "k", "body-2"),
              order_id_for("u1", "k2", "body-1")}
    assert one not in others and len(others) == 3
    assert order_id_for("u1", None, "body-1") != order_id_for("u1", None, "body-1")


def test_a_key_whose_earlier_try_was_released_reserves_afresh(service):
    reserve = service.rpc.products.reserve_stock.side_effect
    calls = []

    def released_once(order_id, items):
        calls.append(order_id)
        if len(calls) == 1:
            raise Conflict("This order's reservation was released; place the order again.")
        return reserve(order_id, items)

    service.rpc.products.reserve_stock.side_effect = released_once
    placed = place(service, key="k-1")
    assert placed["replayed"] is False and placed["order"]["id"] == calls[1] != calls[0]


def test_the_same_idempotency_key_replays_the_order(service):
    first = place(service, key="k-1")
    again = place(service, key="k-1")
    assert again == {"order": first["order"], "replayed": True}
    assert service.rpc.products.reserve_stock.call_count == 1
    with pytest.raises(IdempotencyKeyReused):
        place(service, [{"product_id": MUG, "quantity": 9}], key="k-1")
    other_buyer = {"id": str(uuid.uuid4()), "role": "user"}
    assert place(service, key="k-1", actor=other_buyer)["replayed"] is False


def test_who_may_cancel_what(service):
    order = place(service)["order"]
    stranger = {"id": str(uuid.uuid4()), "role": "user"}
    with pytest.raises(NotFound):
        service.cancel_order(order["id"], actor=stranger)
    for status in ("paid", "shipped"):
        service.set_status(order["id"], status, actor=ADMIN)
    with pytest.raises(Conflict):
        service.cancel_order(order["id"], actor=BUYER)  # shipped: too late for the buyer
    assert service.cancel_order(order["id"], actor=ADMIN)["status"] == "cancelled"
    service.rpc.products.release_stock.assert_called_once_with(order["id"])
    with pytest.raises(Conflict):
        service.cancel_order(order["id"], actor=ADMIN)


def test_a_release_that_failed_is_retried_by_the_timer(service):
    order = place(service)["order"]
    service.rpc.products.release_stock.side_effect = ServiceTimeout("down")
    assert service.cancel_order(order["id"], actor=BUYER)["status"] == "cancelled"
    service.rpc.products.release_stock.side_effect = None
    service.retry_stock_releases()
    service.retry_stock_releases()
    assert service.rpc.products.release_stock.call_count == 2  # failed once, then done


def test_status_moves_forward_one_step_at_a_time(service):
    order = place(service)["order"]
    with pytest.raises(Forbidden):
        service.set_status(order["id"], "paid", actor=BUYER)
    with pytest.raises(Conflict):
        service.set_status(order["id"], "shipped", actor=ADMIN)
    for status in ("paid", "shipped", "delivered"):
        assert service.set_status(order["id"], status, actor=ADMIN)["status"] == status
    with pytest.raises(InvalidInput):
        service.set_status(order["id"], "lost", actor=ADMIN)
    with pytest.raises(Conflict):
        service.cancel_order(order["id"], actor=ADMIN)


def test_buyers_list_their_own_orders_and_admins_anyones(service):
    mine = place(service)["order"]
    other = {"id": str(uuid.uuid4()), "role": "user"}
    place(service, actor=other)
    assert [o["id"] for o in service.list_orders(actor=BUYER)["items"]] == [mine["id"]]
    with pytest.raises(Forbidden):
        service.list_orders(actor=BUYER, user_id=other["id"])
    assert service.list_orders(actor=ADMIN)["total"] == 2
    assert service.list_orders(actor=ADMIN, user_id=BUYER["id"])["total"] == 1
    assert service.list_orders(actor=ADMIN, status="cancelled")["total"] == 0


def test_details_bring_the_buyer_and_current_products(service):
    order = place(service)["order"]
    service.rpc.users.get_user.call_async.return_value.result.return_value = {"name": "ada"}
    replies = {LAMP: {"id": LAMP, "price": "21.00"}}

    def product_reply(product_id):
        reply = MagicMock()
        if product_id in replies:
            reply.result.return_value = replies[product_id]
        else:
            reply.result.side_effect = NotFound("gone")
        return reply
    service.rpc.products.get_product.call_async.side_effect = product_reply
    details = service.get_order_details(order["id"], actor=BUYER)
    assert details["buyer"] == {"name": "ada"} and details["unavailable"] == []
    assert details["products"] == {LAMP: {"id": LAMP, "price": "21.00"}, MUG: None}
