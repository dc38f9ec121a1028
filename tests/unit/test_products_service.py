"""The products service's rules, run with nameko's worker_factory on a real SQLite database."""

import uuid

import pytest
from nameko.testing.services import worker_factory

from products.models import Base, Outbox, Product
from products.service import ProductsService
from products.settings import ProductsSettings
from shop.errors import Conflict, Forbidden, InsufficientStock, InvalidInput, NotFound
from shop.outbox import Emitter
from tests.config_yml import settings
from tests.outbox import written_events

ADMIN = {"role": "admin"}
SETTINGS = settings(ProductsSettings, stock_low_threshold=5)


@pytest.fixture
def service(sqlite_db):
    return worker_factory(ProductsService, db=sqlite_db(Base), settings=SETTINGS,
                          outbox=Emitter(Outbox, {}))


def new_product(service, name="Lamp", price="19.99", stock=10, category="home", **extra):
    return service.create_product({"name": name, "price": price, "stock": stock,
                                   "category": category, **extra}, actor=ADMIN)


def events(service, name):
    return written_events(service, Outbox, name)


def order_id():
    return str(uuid.uuid4())


@pytest.mark.parametrize("price,shown", [("19.99", "19.99"), (5, "5.00"), ("0.5", "0.50"),
                                         ("1000000.00", "1000000.00"), ("0.01", "0.01")])
def test_prices_are_taken_as_strings_or_whole_numbers_and_shown_as_strings(
        service, price, shown):
    assert new_product(service, price=price)["price"] == shown


# Each refused as the OpenAPI document's pattern refuses it: a float (cents a binary
# float cannot hold), a sign, an exponent, padding, a leading zero, a final newline.
@pytest.mark.parametrize("price", ["19.999", "0", "-1", "abc", "NaN", True, None, "1e9", [1],
                                   19.99, "+5", "1e2", " 5", "05", "5\n", "1000000.01", 0])
def test_bad_prices_are_invalid(service, price):
    with pytest.raises(InvalidInput) as error:
        new_product(service, price=price)
    assert "price" in (error.value.details or {})


def test_only_admins_change_the_catalogue(service):
    with pytest.raises(Forbidden):
        service.create_product({"name": "x", "price": "1", "category": "c"},
                               actor={"id": str(uuid.uuid4()), "role": "user"})
    product = new_product(service)
    with pytest.raises(Forbidden):
        service.update_product(product["id"], {"price": "1"}, actor={"id": "u", "role": "user"})


def test_listing_filters_and_sorts(service):
    new_product(service, "Desk lamp", "30.00", category="home", description="warm light")
    new_product(service, "Mug", "8.50", category="kitchen", stock=0)
    new_product(service, "Floor LAMP", "99.00", category="Home")
    names = lambda page: [p["name"] for p in page["items"]]  # noqa: E731
    assert names(service.list_products(category="home", sort="price")) == [
        "Desk lamp", "Floor LAMP"]
    assert names(service.list_products(q="lamp", sort="-price")) == ["Floor LAMP", "Desk lamp"]
    assert names(service.list_products(q="WARM")) == ["Desk lamp"]
    assert names(service.list_products(min_price="9", max_price="50")) == ["Desk lamp"]
    assert names(service.list_products(min_price="50", max_price="9")) == []  # no such price
    assert names(service.list_products(in_stock="false")) == ["Mug"]
    assert service.list_products(limit=1, page=2, sort="name")["items"][0]["name"] == "Floor LAMP"


def test_text_search_treats_wildcards_as_text(service):
    new_product(service, "100% cotton")
    new_product(service, "Plain shirt")
    assert [p["name"] for p in service.list_products(q="%")["items"]] == ["100% cotton"]


@pytest.mark.parametrize("query", [{"sort": "stock"}, {"min_price": "x"}, {"limit": 0},
                                   {"min_price": "1.234"}, {"colour": "red"}])
def test_bad_list_queries_are_invalid(service, query):
    with pytest.raises(InvalidInput):
        service.list_products(**query)


def test_a_take_takes_all_items_at_their_prices(service):
    lamp, mug = new_product(service), new_product(service, "Mug", "8.50", stock=3)
    taken = service.take_stock(order_id(), [
        {"product_id": lamp["id"], "quantity": 2}, {"product_id": mug["id"], "quantity": 3}])
    assert sorted((i["name"], i["unit_price"], i["quantity"]) for i in taken["items"]) == [
        ("Lamp", "19.99", 2), ("Mug", "8.50", 3)]
    assert service.get_product(lamp["id"])["stock"] == 8
    assert service.get_product(mug["id"])["stock"] == 0
    assert {event["id"]: event["stock"] for event in events(service, "product_updated")
            if event["changed"] == ["stock"]} == {lamp["id"]: 8, mug["id"]: 0}


def test_short_items_take_nothing_and_every_one_is_named(service):
    lamp = new_product(service)
    mug, cup = new_product(service, "Mug", stock=1), new_product(service, "Cup", stock=0)
    with pytest.raises(InsufficientStock) as error:
        service.take_stock(order_id(), [
            {"product_id": lamp["id"], "quantity": 2}, {"product_id": mug["id"], "quantity": 5},
            {"product_id": cup["id"], "quantity": 1}])
    assert error.value.details == {"items": {mug["id"]: {"requested": 5, "available": 1},
                                             cup["id"]: {"requested": 1, "available": 0}}}
    assert service.get_product(lamp["id"])["stock"] == 10


def test_unknown_or_inactive_products_cannot_be_taken(service):
    lamp = new_product(service)
    service.update_product(lamp["id"], {"is_active": False}, actor=ADMIN)
    ghost = str(uuid.uuid4())
    with pytest.raises(NotFound) as error:
        service.take_stock(order_id(), [{"product_id": lamp["id"], "quantity": 1},
                                        {"product_id": ghost, "quantity": 1}])
    assert set((error.value.details or {})["product_ids"]) == {lamp["id"], ghost}
    assert service.db.session.get(Product, lamp["id"]).stock == 10


def test_many_products_come_in_one_call_with_none_for_those_not_on_sale(service):
    lamp, mug = new_product(service), new_product(service, name="Mug")
    service.update_product(mug["id"], {"is_active": False}, actor=ADMIN)
    ghost = str(uuid.uuid4())
    found = service.get_many([lamp["id"].upper(), mug["id"], ghost])
    assert found == {lamp["id"]: service.get_product(lamp["id"]), mug["id"]: None,
                     ghost: None}


@pytest.mark.parametrize("ids", [[], ["not-an-id"], "a string", None,
                                 [str(uuid.uuid4()) for _ in range(101)]])
def test_a_batch_that_is_empty_malformed_or_over_100_is_invalid(service, ids):
    with pytest.raises(InvalidInput):
        service.get_many(ids)


@pytest.mark.parametrize("items", [[], [{"product_id": "x", "quantity": 1}],
                                   [{"product_id": str(uuid.UUID(int=1)), "quantity": 0}],
                                   [{"product_id": str(uuid.UUID(int=1)), "quantity": 50_001}]])
def test_bad_take_items_are_invalid(service, items):
    with pytest.raises(InvalidInput):
        service.take_stock(order_id(), items)


def test_taking_for_the_same_order_twice_takes_once_at_the_first_prices(service):
    lamp, order = new_product(service), order_id()
    first = service.take_stock(order, [{"product_id": lamp["id"], "quantity": 4}])
    service.update_product(lamp["id"], {"price": "25.00"}, actor=ADMIN)
    again = service.take_stock(order, [{"product_id": lamp["id"], "quantity": 4}])
    assert first == again and service.get_product(lamp["id"])["stock"] == 6


def test_a_refused_take_can_be_tried_again_under_the_same_order(service):
    lamp, order = new_product(service, stock=1), order_id()
    with pytest.raises(InsufficientStock):
        service.take_stock(order, [{"product_id": lamp["id"], "quantity": 2}])
    service.adjust_stock(lamp["id"], 1, actor=ADMIN)
    assert service.take_stock(order, [{"product_id": lamp["id"], "quantity": 2}])["items"]


def test_release_gives_stock_back_once(service):
    lamp, order = new_product(service), order_id()
    service.take_stock(order, [{"product_id": lamp["id"], "quantity": 4}])
    assert service.release_stock(order)["released"] is True
    assert service.release_stock(order)["released"] is False
    assert service.get_product(lamp["id"])["stock"] == 10
    with pytest.raises(Conflict):  # given back: the order cannot take it again
        service.take_stock(order, [{"product_id": lamp["id"], "quantity": 4}])


def test_a_take_that_arrives_after_its_release_is_refused(service):
    lamp, late = new_product(service), order_id()
    assert service.release_stock(late)["released"] is False  # the order gave up first
    with pytest.raises(Conflict):
        service.take_stock(late, [{"product_id": lamp["id"], "quantity": 1}])
    assert service.get_product(lamp["id"])["stock"] == 10


def test_stock_low_is_announced_when_stock_falls_below_the_threshold(service):
    lamp = new_product(service, stock=7)
    service.take_stock(order_id(), [{"product_id": lamp["id"], "quantity": 2}])  # 5
    assert events(service, "stock_low") == []
    service.take_stock(order_id(), [{"product_id": lamp["id"], "quantity": 1}])  # 4
    service.take_stock(order_id(), [{"product_id": lamp["id"], "quantity": 1}])  # 3
    (low,) = events(service, "stock_low")
    assert (low["product_id"], low["stock"], low["name"]) == (lamp["id"], 4, "Lamp")
    assert events(service, "product_updated")[-1] == {"id": lamp["id"], "changed": ["stock"],
                                                      "stock": 3, "stock_before": 4}


def test_restock_and_write_off_never_go_below_zero(service):
    lamp = new_product(service, stock=2)
    assert service.adjust_stock(lamp["id"], 5, actor=ADMIN)["stock"] == 7
    with pytest.raises(Conflict):
        service.adjust_stock(lamp["id"], -8, actor=ADMIN)
    with pytest.raises(InvalidInput):
        service.adjust_stock(lamp["id"], "many", actor=ADMIN)


def test_deleting_an_ordered_product_deactivates_it(service):
    lamp, spare = new_product(service), new_product(service, "Spare")
    service.take_stock(order_id(), [{"product_id": lamp["id"], "quantity": 1}])
    assert service.delete_product(lamp["id"], actor=ADMIN) == {"deleted": False,
                                                               "deactivated": True}
    assert service.delete_product(spare["id"], actor=ADMIN) == {"deleted": True,
                                                                "deactivated": False}
    for product in (lamp, spare):
        with pytest.raises(NotFound):
            service.get_product(product["id"])
        # Deleted is for good: not put back on sale, not changed, not deleted again.
        with pytest.raises(NotFound):
            service.update_product(product["id"], {"is_active": True}, actor=ADMIN)
        with pytest.raises(NotFound):
            service.delete_product(product["id"], actor=ADMIN)
        with pytest.raises(NotFound):
            service.adjust_stock(product["id"], 5, actor=ADMIN)


def test_a_product_taken_off_sale_can_be_put_back(service):
    lamp = new_product(service)
    service.update_product(lamp["id"], {"is_active": False}, actor=ADMIN)
    with pytest.raises(NotFound):
        service.get_product(lamp["id"])
    service.update_product(lamp["id"], {"is_active": True}, actor=ADMIN)
    assert service.get_product(lamp["id"])["id"] == lamp["id"]


def test_an_admin_adds_writes_off_or_sets_stock_and_each_change_is_audited(service):
    lamp = new_product(service, stock=2)
    keeper = {"id": "7d9c3c5e-1f0a-4a4e-9a55-1f1f1f1f1f1f", "role": "admin"}
    assert service.set_stock(lamp["id"], {"delta": 5}, actor=keeper)["stock"] == 7
    assert service.set_stock(lamp["id"], {"delta": -3}, actor=keeper)["stock"] == 4
    assert service.set_stock(lamp["id"], {"stock": 12}, actor=keeper)["stock"] == 12
    assert [(e["before"], e["after"], e["by"]) for e in events(service, "stock_adjusted")] == [
        (2, 7, keeper["id"]), (7, 4, keeper["id"]), (4, 12, keeper["id"])]
    assert events(service, "product_updated")[-1] == {
        "id": lamp["id"], "changed": ["stock"], "stock": 12, "stock_before": 4}


def test_stock_keeping_is_refused_below_zero_for_users_and_for_bad_bodies(service):
    lamp = new_product(service, stock=2)
    with pytest.raises(Conflict):
        service.set_stock(lamp["id"], {"delta": -3}, actor=ADMIN)
    with pytest.raises(Forbidden):
        service.set_stock(lamp["id"], {"stock": 9}, actor={"id": "u", "role": "user"})
    for body in ({}, {"delta": 1, "stock": 1}, {"stock": -1}, {"delta": 1.5},
                 {"count": 3}, {"stock": "9"}):
        with pytest.raises(InvalidInput):
            service.set_stock(lamp["id"], body, actor=ADMIN)
    assert service.get_product(lamp["id"])["stock"] == 2
    assert events(service, "stock_adjusted") == []
