"""The order saga and lifecycle rules, with worker_factory: real SQLite, products faked."""

import dataclasses
import uuid
from unittest.mock import MagicMock

import eventlet
import eventlet.event
import pytest
from nameko.testing.services import worker_factory

from orders.models import Base, Order, Outbox
from orders.service import OrdersService
from orders.settings import OrdersSettings
from shop.errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    NotFound,
    ServiceTimeout,
    ServiceUnavailable,
)
from shop.outbox import Emitter
from tests.config_yml import settings
from tests.outbox import written_events

BUYER = {"id": str(uuid.uuid4()), "role": "user"}
ADMIN = {"role": "admin"}
LAMP, MUG = str(uuid.uuid4()), str(uuid.uuid4())
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "de"}


@pytest.fixture
def service(sqlite_db):
    worker = worker_factory(OrdersService, db=sqlite_db(Base),
                            settings=settings(OrdersSettings, order_pending_seconds=120),
                            outbox=Emitter(Outbox, {}))
    worker.rpc.products.take_stock.side_effect = take_at_catalogue_prices
    return worker


def take_at_catalogue_prices(order_id, items):
    return {"order_id": order_id, "items": [
        {**item, "name": "Lamp" if item["product_id"] == LAMP else "Mug",
         "unit_price": "19.99" if item["product_id"] == LAMP else "8.50"} for item in items]}


def place(service, items=None, actor=BUYER, key=None, address=ADDRESS):
    items = items or [{"product_id": LAMP, "quantity": 2}, {"product_id": MUG, "quantity": 1}]
    return service.place_order({"items": items, "shipping_address": address}, actor=actor,
                               idempotency_key=key)


def rows(service, status=None):
    """Every order row, hidden ones included: {id: status}."""
    service.db.session.expire_all()
    return {order.id: order.status for order in service.db.session.query(Order)
            if status is None or order.status == status}


def events(service):
    return written_events(service, Outbox)


def taken_order_id(service):
    (order_id, _), _ = service.rpc.products.take_stock.call_args
    return order_id


def test_an_order_is_placed_at_the_prices_products_took_it_and_announced(service):
    result = place(service)
    order = result["order"]
    assert result["replayed"] is False and order["status"] == "placed"
    assert order["total"] == "48.48"
    assert {(i["name"], i["unit_price"], i["quantity"], i["line_total"]) for i in order["items"]} \
        == {("Lamp", "19.99", 2, "39.98"), ("Mug", "8.50", 1, "8.50")}
    assert order["shipping_address"]["country"] == "DE"
    assert service.rpc.products.take_stock.call_count == 1  # the one hop
    assert taken_order_id(service) == order["id"]
    assert events(service) == [("order_placed", {
        "id": order["id"], "user_id": BUYER["id"], "total": "48.48", "item_count": 3})]
    assert service.get_order(order["id"], actor=BUYER) == order


def test_lines_for_the_same_product_are_merged(service):
    place(service, [{"product_id": LAMP, "quantity": 2}, {"product_id": LAMP, "quantity": 3.0}])
    (_, items), _ = service.rpc.products.take_stock.call_args
    assert items == [{"product_id": LAMP, "quantity": 5}]


def test_lines_of_one_product_may_add_up_to_more_than_a_line_holds(service):
    # Each line is within the documented bound, so the order is valid as the document says;
    # whether there is that much stock is for products to answer.
    place(service, [{"product_id": LAMP, "quantity": 600}, {"product_id": LAMP, "quantity": 600}])
    (_, items), _ = service.rpc.products.take_stock.call_args
    assert items == [{"product_id": LAMP, "quantity": 1200}]


@pytest.mark.parametrize("items", [
    [], [{"product_id": LAMP, "quantity": 0}], [{"product_id": LAMP, "quantity": 1001}],
    [{"product_id": "lamp", "quantity": 1}], [{"product_id": LAMP, "quantity": 1.5}],
    [{"product_id": LAMP, "quantity": "1"}], [{"product_id": LAMP, "quantity": True}],
    [{"product_id": LAMP, "quantity": 1}] * 51,
])
def test_bad_items_are_invalid_and_take_nothing(service, items):
    with pytest.raises(InvalidInput):
        service.place_order({"items": items, "shipping_address": ADDRESS}, actor=BUYER)
    service.rpc.products.take_stock.assert_not_called()
    assert rows(service) == {}


@pytest.mark.parametrize("change", [{"country": "XX"}, {"country": "Germany"}, {"city": ""},
                                    {"postal_code": "<script>"}, {"line1": " "}])
def test_bad_addresses_are_invalid(service, change):
    with pytest.raises(InvalidInput) as error:
        place(service, address={**ADDRESS, **change})
    assert "shipping_address" in (error.value.details or {})


def test_insufficient_stock_leaves_no_order_and_costs_no_release(service):
    service.rpc.products.take_stock.side_effect = InsufficientStock("short", {"items": {}})
    with pytest.raises(InsufficientStock):
        place(service)
    assert rows(service) == {}
    service.rpc.products.release_stock.assert_not_called()
    assert events(service) == []


def test_a_failure_after_the_take_fails_the_order_and_releases_its_stock(service, monkeypatch):
    from orders import placement
    monkeypatch.setattr(placement.OrderPlacement, "finish",
                        MagicMock(side_effect=RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        place(service)
    service.rpc.products.release_stock.assert_called_once_with(taken_order_id(service))
    assert rows(service) == {}  # released at once, so nothing is left to settle
    assert events(service) == []


def test_failed_and_pending_orders_are_never_shown(service):
    service.rpc.products.take_stock.side_effect = ServiceTimeout("slow")
    with pytest.raises(ServiceUnavailable):
        place(service)
    (order_id,) = rows(service, "failed")
    with pytest.raises(NotFound):
        service.get_order(order_id, actor=ADMIN)
    with pytest.raises(NotFound):
        service.cancel_order(order_id, actor=ADMIN)
    assert service.list_orders(actor=ADMIN)["total"] == 0


def test_unreachable_products_is_503_and_the_stock_is_released(service):
    service.rpc.products.take_stock.side_effect = ServiceTimeout("slow")
    with pytest.raises(ServiceUnavailable):
        place(service)
    order_id = taken_order_id(service)
    service.rpc.products.release_stock.call_async.assert_called_once_with(order_id)
    assert rows(service) == {order_id: "failed"}


def test_a_release_that_cannot_get_through_is_retried_by_the_timer(service):
    service.rpc.products.take_stock.side_effect = ServiceTimeout("slow")
    service.rpc.products.release_stock.call_async.side_effect = ServiceUnavailable("down")
    service.rpc.products.release_stock.side_effect = ServiceUnavailable("down")
    with pytest.raises(ServiceUnavailable):
        place(service)
    service.settle_orders()
    assert list(rows(service).values()) == ["failed"]  # still owed its release
    service.rpc.products.release_stock.side_effect = None
    service.settle_orders()
    assert rows(service) == {}


def test_an_order_left_pending_is_failed_and_released_by_the_timer(service):
    service.rpc.products.take_stock.side_effect = lambda *args: eventlet_never()
    service.settings = dataclasses.replace(service.settings, order_pending_seconds=0)
    worker = eventlet.spawn(place, service)  # stops half-way, as a killed process would
    eventlet.sleep(0.05)
    (order_id,) = rows(service, "pending")
    service.settle_orders()
    service.rpc.products.release_stock.assert_called_once_with(order_id)
    assert rows(service) == {}
    worker.kill()


def eventlet_never():
    eventlet.sleep(3600)


def test_a_take_refused_because_its_stock_was_given_back_places_afresh(service):
    calls = []

    def given_back_once(order_id, items):
        calls.append(order_id)
        if len(calls) == 1:
            raise Conflict("This order's stock was given back; place the order again.")
        return take_at_catalogue_prices(order_id, items)

    service.rpc.products.take_stock.side_effect = given_back_once
    placed = place(service, key="k-1")
    assert placed["replayed"] is False and placed["order"]["id"] == calls[1] != calls[0]
    assert rows(service, "placed") == {calls[1]: "placed"}


def test_the_same_idempotency_key_replays_the_order(service):
    first = place(service, key="k-1")
    again = place(service, key="k-1")
    assert again == {"order": first["order"], "replayed": True}
    assert service.rpc.products.take_stock.call_count == 1
    with pytest.raises(IdempotencyKeyReused):
        place(service, [{"product_id": MUG, "quantity": 9}], key="k-1")
    other_buyer = {"id": str(uuid.uuid4()), "role": "user"}
    assert place(service, key="k-1", actor=other_buyer)["replayed"] is False


def test_a_replay_finishes_a_pending_order_under_its_key_and_one_announces_it(service):
    started, go_on = eventlet.event.Event(), eventlet.event.Event()

    def slow_take(order_id, items):
        if not started.ready():
            started.send(order_id)
            go_on.wait()
        return take_at_catalogue_prices(order_id, items)

    service.rpc.products.take_stock.side_effect = slow_take
    first = eventlet.spawn(place, service, key="k-1")
    order_id = started.wait()
    second = place(service, key="k-1")  # takes over the pending order, same id
    go_on.send()
    first = first.wait()
    assert second["order"]["id"] == first["order"]["id"] == order_id
    assert sorted([first["replayed"], second["replayed"]]) == [False, True]
    assert [event for event, _ in events(service)] == ["order_placed"]
    assert rows(service) == {order_id: "placed"}


def test_a_failed_try_gives_its_key_up_so_a_retry_places_the_order(service):
    service.rpc.products.take_stock.side_effect = ServiceTimeout("slow")
    with pytest.raises(ServiceUnavailable):
        place(service, key="k-1")
    service.rpc.products.take_stock.side_effect = take_at_catalogue_prices
    retry = place(service, key="k-1")
    assert retry["replayed"] is False and retry["order"]["status"] == "placed"


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
    service.settle_orders()
    service.settle_orders()
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


def test_details_bring_the_buyer_and_current_products_in_one_call(service):
    order = place(service)["order"]
    service.rpc.users.get_user.call_async.return_value.result.return_value = {"name": "ada"}
    many = service.rpc.products.get_many.call_async
    many.return_value.result.return_value = {LAMP: {"id": LAMP, "price": "21.00"}, MUG: None}
    details = service.get_order_details(order["id"], actor=BUYER)
    assert details["buyer"] == {"name": "ada"} and details["unavailable"] == []
    assert details["products"] == {LAMP: {"id": LAMP, "price": "21.00"}, MUG: None}
    many.assert_called_once_with(sorted([LAMP, MUG]))
    assert not service.rpc.products.get_product.call_async.called


def test_details_say_which_part_was_out_of_reach(service):
    order = place(service)["order"]
    service.rpc.users.get_user.call_async.return_value.result.return_value = {"name": "ada"}
    service.rpc.products.get_many.call_async.return_value.result.side_effect = \
        ServiceUnavailable("No products service is running.")
    details = service.get_order_details(order["id"], actor=BUYER)
    assert details["unavailable"] == ["products"]
    assert details["products"] == {LAMP: None, MUG: None}


def test_a_key_race_won_by_another_body_takes_no_stock_for_the_loser(service):
    """The loser of an Idempotency-Key race with a different body is refused before it
    takes anything: the claim comes first, so no stock waits for the sweep."""
    started, go_on = eventlet.event.Event(), eventlet.event.Event()

    def slow_take(order_id, items):
        if not started.ready():
            started.send(order_id)
            go_on.wait()
        return take_at_catalogue_prices(order_id, items)

    service.rpc.products.take_stock.side_effect = slow_take
    winner = eventlet.spawn(place, service, key="k-1")
    started.wait()  # the winner holds the key, pending
    with pytest.raises(IdempotencyKeyReused):
        place(service, [{"product_id": MUG, "quantity": 9}], key="k-1")
    go_on.send()
    assert winner.wait()["replayed"] is False
    assert service.rpc.products.take_stock.call_count == 1  # the winner's take only
    service.rpc.products.release_stock.assert_not_called()
    assert list(rows(service).values()) == ["placed"]
