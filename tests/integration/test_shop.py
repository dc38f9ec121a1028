"""The shop end to end: catalogue, orders as a saga, notifications, through HTTP."""

import time
import uuid

import eventlet
import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import get_container

from products.service import ProductsService

ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def order_body(*lines):
    return {"items": [{"product_id": product["id"], "quantity": quantity}
                      for product, quantity in lines], "shipping_address": ADDRESS}


def until(read, accept, seconds=3.0):
    """Reads until accept(value): for effects that travel by event."""
    deadline = time.monotonic() + seconds
    value = read()
    while not accept(value) and time.monotonic() < deadline:
        eventlet.sleep(0.02)
        value = read()
    return value


def stock_of(api, product):
    return api.http.get(f"/products/{product['id']}").json()["stock"]


def notification_kinds(api, auth):
    return [n["kind"] for n in api.http.get("/notifications", headers=auth).json()["items"]]


def test_the_shoppers_journey(shop):
    api, admin, products = shop
    lamp = products["Desk lamp"]
    shopper, auth = api.user_with_token("ada")
    assert until(lambda: notification_kinds(api, auth), lambda k: k == ["welcome"]) == ["welcome"]

    found = api.http.get("/products", params={"category": "home", "in_stock": "true",
                                              "q": "lamp", "max_price": "50", "sort": "price"})
    assert [p["name"] for p in found.json()["items"]] == ["Desk lamp"]
    assert found.headers["X-Cache"] == "MISS"
    again = api.http.get("/products", params={"category": "home", "in_stock": "true",
                                              "q": "lamp", "max_price": "50", "sort": "price"})
    assert again.headers["X-Cache"] == "HIT"

    placed = api.http.post("/orders", json=order_body((lamp, 2), (products["Mug"], 1)),
                           headers=auth)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert placed.headers["Location"] == f"/orders/{order['id']}"
    assert order["total"] == "68.50" and order["status"] == "placed"
    assert until(lambda: stock_of(api, lamp), lambda s: s == 8) == 8
    assert until(lambda: notification_kinds(api, auth),
                 lambda k: "order_placed" in k)[0] == "order_placed"

    details = api.http.get(f"/orders/{order['id']}/details", headers=auth).json()
    assert details["buyer"]["name"] == "ada" and "email" not in details["buyer"]
    assert details["products"][lamp["id"]]["name"] == "Desk lamp"

    cancelled = api.http.post(f"/orders/{order['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert until(lambda: stock_of(api, lamp), lambda s: s == 10) == 10
    assert until(lambda: notification_kinds(api, auth),
                 lambda k: "order_cancelled" in k)[0] == "order_cancelled"
    assert api.http.post(f"/orders/{order['id']}/cancel", headers=auth).status_code == 409


def test_fifty_concurrent_orders_for_ten_in_stock_place_exactly_ten(shop):
    api, admin, _ = shop
    product = api.http.post("/products", headers=admin, json={
        "name": "Limited", "price": "5.00", "category": "rare", "stock": 10}).json()
    buyers = [api.user_with_token(f"buyer{n}")[1] for n in range(5)]
    pool = eventlet.GreenPool(50)
    responses = list(pool.imap(
        lambda n: api.http.post("/orders", json=order_body((product, 1)), headers=buyers[n % 5]),
        range(50)))
    codes = sorted(response.status_code for response in responses)
    assert codes.count(201) == 10 and codes.count(409) == 40, codes
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"INSUFFICIENT_STOCK"}
    with ClusterRpcProxy(api.config) as n:
        assert n.products.get_product(product["id"])["stock"] == 0
        ordered = sum(item["quantity"] for order in n.orders.list_orders(
            {"role": "admin"}, limit=100)["items"]
            for item in order["items"] if item["product_id"] == product["id"])
    assert ordered == 10


def test_a_failure_after_the_take_leaves_stock_unchanged(shop, monkeypatch):
    from orders import placement
    api, _, products = shop
    mug = products["Mug"]
    _, auth = api.user_with_token("ada")

    def broken_finish(self, taken):
        raise RuntimeError("the orders database failed")
    monkeypatch.setattr(placement.OrderPlacement, "finish", broken_finish)
    response = api.http.post("/orders", json=order_body((mug, 2)), headers=auth)
    assert response.status_code == 500 and response.json()["code"] == "INTERNAL_ERROR"
    assert "the orders database failed" not in response.text
    with ClusterRpcProxy(api.config) as n:
        assert n.products.get_product(mug["id"])["stock"] == 3
    assert api.http.get("/orders", headers=auth).json()["total"] == 0


def test_an_idempotency_key_replays_and_refuses_another_body(shop):
    api, _, products = shop
    mug = products["Mug"]
    _, auth = api.user_with_token("ada")
    keyed = {**auth, "Idempotency-Key": "checkout-42"}
    first = api.http.post("/orders", json=order_body((mug, 1)), headers=keyed)
    again = api.http.post("/orders", json=order_body((mug, 1)), headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    other = api.http.post("/orders", json=order_body((mug, 2)), headers=keyed)
    assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    with ClusterRpcProxy(api.config) as n:
        assert n.products.get_product(mug["id"])["stock"] == 2


@pytest.mark.parametrize("body,status,code", [
    ({"items": [], "shipping_address": ADDRESS}, 400, "VALIDATION_ERROR"),
    ({"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}],
      "shipping_address": ADDRESS}, 404, "NOT_FOUND"),
    ({"items": [{"product_id": str(uuid.uuid4()), "quantity": 0}],
      "shipping_address": ADDRESS}, 400, "VALIDATION_ERROR"),
    ({"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}],
      "shipping_address": {**ADDRESS, "country": "ZZ"}}, 400, "VALIDATION_ERROR"),
])
def test_bad_orders_get_clear_errors(shop, body, status, code):
    api, _, _ = shop
    _, auth = api.user_with_token("ada")
    response = api.http.post("/orders", json=body, headers=auth)
    assert response.status_code == status and response.json()["code"] == code


@pytest.mark.parametrize("params", [{"self": "1"}, {"query": "x"}, {"colour": "red"},
                                    {"page": "x"}, {"min_price": "1.234"}])
def test_odd_product_queries_are_400(shop, params):
    api, _, _ = shop
    response = api.http.get("/products", params=params)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


def test_ordering_more_than_the_stock_names_the_item(shop):
    api, _, products = shop
    mug = products["Mug"]
    _, auth = api.user_with_token("ada")
    response = api.http.post("/orders", json=order_body((mug, 4)), headers=auth)
    assert response.status_code == 409
    assert response.json()["details"]["items"][mug["id"]] == {"requested": 4, "available": 3}


def test_stopped_products_give_503_and_leave_no_stock_taken(shop, system, container_factory):
    api, _, products = shop
    mug = products["Mug"]
    _, auth = api.user_with_token("ada")
    get_container(system, ProductsService).stop()
    started = time.monotonic()
    response = api.http.post("/orders", json=order_body((mug, 2)), headers=auth)
    assert response.status_code == 503 and response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert time.monotonic() - started < api.config["RPC_TIMEOUT_SECONDS"]

    eventlet.sleep(0.5)
    container_factory(ProductsService, api.config).start()  # products comes back
    eventlet.sleep(0.5)
    with ClusterRpcProxy(api.config) as n:
        assert n.products.get_product(mug["id"])["stock"] == 3
        assert n.products.release_stock(str(uuid.uuid4()))["released"] is False
    assert api.http.get("/orders", headers=auth).json()["total"] == 0


def test_orders_and_notifications_of_others_are_not_found(shop):
    api, _, products = shop
    _, ada = api.user_with_token("ada")
    _, bob = api.user_with_token("bob")
    order = api.http.post("/orders", json=order_body((products["Mug"], 1)), headers=ada).json()
    for path in (f"/orders/{order['id']}", f"/orders/{order['id']}/details"):
        assert api.http.get(path, headers=bob).status_code == 404
    assert api.http.post(f"/orders/{order['id']}/cancel", headers=bob).status_code == 404
    assert api.http.get("/orders", headers=bob).json()["total"] == 0
    assert api.http.get("/orders", params={"user_id": str(uuid.uuid4())},
                        headers=bob).status_code == 403
    welcome = until(lambda: api.http.get("/notifications", headers=ada).json()["items"],
                    lambda items: len(items) > 0)[0]
    response = api.http.post(f"/notifications/{welcome['id']}/read", headers=bob)
    assert response.status_code == 404


def test_only_admins_move_orders_along(shop):
    api, admin, products = shop
    _, auth = api.user_with_token("ada")
    order = api.http.post("/orders", json=order_body((products["Mug"], 1)), headers=auth).json()
    path = f"/orders/{order['id']}/status"
    assert api.http.post(path, json={"status": "paid"}, headers=auth).status_code == 403
    assert api.http.post(path, json={"status": "shipped"}, headers=admin).status_code == 409
    assert api.http.post(path, json={"status": "paid"}, headers=admin).json()["status"] == "paid"
    assert until(lambda: notification_kinds(api, auth),
                 lambda k: "order_status_changed" in k)[0] == "order_status_changed"
    assert api.http.get("/orders", params={"status": "paid"},
                        headers=admin).json()["total"] == 1


def test_only_admins_change_the_catalogue(shop):
    api, admin, products = shop
    _, auth = api.user_with_token("ada")
    lamp = products["Desk lamp"]
    assert api.http.post("/products", json={"name": "x", "price": "1", "category": "c"},
                         headers=auth).status_code == 403
    assert api.http.patch(f"/products/{lamp['id']}", json={"price": "1"},
                          headers=auth).status_code == 403
    api.http.get(f"/products/{lamp['id']}")
    changed = api.http.patch(f"/products/{lamp['id']}", json={"price": 25}, headers=admin)
    assert changed.status_code == 200 and changed.json()["price"] == "25.00"
    assert api.http.get(f"/products/{lamp['id']}").json()["price"] == "25.00"
    assert api.http.delete(f"/products/{lamp['id']}", headers=admin).status_code == 204
    assert api.http.get(f"/products/{lamp['id']}").status_code == 404


def test_the_same_event_twice_makes_one_notification(shop):
    api, _, _ = shop
    user, auth = api.user_with_token("ada")
    dispatch = event_dispatcher(api.config)
    event = {"id": str(uuid.uuid4()), "user_id": user["id"], "total": "1.00", "item_count": 1}
    dispatch("orders", "order_placed", event)
    dispatch("orders", "order_placed", event)
    kinds = until(lambda: notification_kinds(api, auth), lambda k: "order_placed" in k)
    eventlet.sleep(0.3)  # time for a second one to appear, if it were going to
    assert notification_kinds(api, auth).count("order_placed") == 1 == kinds.count("order_placed")


def test_notifications_filter_unread_and_mark_all_read(shop):
    api, _, products = shop
    _, auth = api.user_with_token("ada")
    api.http.post("/orders", json=order_body((products["Mug"], 1)), headers=auth)
    until(lambda: notification_kinds(api, auth), lambda k: len(k) == 2)
    unread = api.http.get("/notifications", params={"unread": "true"}, headers=auth).json()
    assert unread["total"] == 2
    assert api.http.post("/notifications/read-all", headers=auth).json() == {"marked": 2}
    assert api.http.get("/notifications", params={"unread": "true"},
                        headers=auth).json()["total"] == 0
    assert api.http.get("/notifications").status_code == 401


def test_an_order_may_cost_more_than_a_32_bit_count_of_cents(shop):
    api, admin, _ = shop
    jewel = api.http.post("/products", headers=admin, json={
        "name": "Crown", "price": "1000000.00", "category": "jewels", "stock": 5000}).json()
    _, auth = api.user_with_token("ada")
    placed = api.http.post("/orders", headers=auth,
                           json=order_body((jewel, 1000), (jewel, 1000)))
    assert placed.status_code == 201, placed.text
    assert placed.json()["total"] == "2000000000.00"  # 2 × 10^11 cents
