"""/openapi.json describes exactly the routes the gateway serves."""

import inspect

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator
from marshmallow import ValidationError

from contracts.orders import AddressSchema
from contracts.posts import PostChangesSchema
from contracts.products import NewProductSchema, ProductChangesSchema
from contracts.users import NewUserSchema, UserChangesSchema
from gateway.access import route_template
from gateway.http import Route
from gateway.openapi import OPERATIONS, openapi_document
from gateway.service import GatewayService
from shop.countries import ALPHA_2
from shop.errors import InvalidInput
from shop.schemas import load


def served_routes() -> dict[tuple[str, str], str]:
    """{(method, path template): the name of the gateway's handler}."""
    routes = {}
    for name, method in inspect.getmembers(GatewayService, inspect.isfunction):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Route):
                routes[(entrypoint.method, route_template(entrypoint.url))] = name
    return routes


def test_every_route_is_documented_and_every_entry_is_a_route():
    assert set(served_routes()) == set(OPERATIONS)


def test_each_operation_is_named_after_its_handler_for_generated_clients():
    assert {key: operation.id for key, operation in OPERATIONS.items()} == served_routes()


def test_the_document_is_openapi_3_1_with_valid_schemas():
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    signed_in = document["paths"]["/orders"]["post"]
    assert signed_in["security"] == [{"bearer": []}]
    assert {"201", "409", "422", "default"} <= set(signed_in["responses"])


def test_every_write_takes_an_idempotency_key_and_says_when_it_replays():
    paths = openapi_document()["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            takes_key = any(parameter.get("name") == "Idempotency-Key"
                            for parameter in operation["parameters"])
            write = method in ("post", "patch", "delete") and path != "/signin"
            assert takes_key == write, (method, path)
            if write:
                ok = next(answer for status, answer in operation["responses"].items()
                          if status.startswith("2"))
                assert "Idempotent-Replayed" in ok["headers"]
                assert {"409", "422"} <= set(operation["responses"])


def schema_of(name: str) -> Draft202012Validator:
    document = openapi_document()
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                 "components": document["components"]})


@pytest.mark.parametrize(("name", "schema"), [
    ("PostChanges", PostChangesSchema), ("ProductChanges", ProductChangesSchema),
    ("UserChanges", UserChangesSchema)])
def test_a_patch_body_needs_one_property_in_the_document_as_in_the_service(name, schema):
    assert not schema_of(name).is_valid({})
    with pytest.raises(ValidationError):
        schema().load({})


PASSWORDS = ["correct horse", "x" * 72, "é" * 40, "🐍" * 19, "pässwörd", "x" * 1024]


@pytest.mark.parametrize("password", PASSWORDS + ["x" * 1025, "🐍" * 7, "short"])
def test_every_password_the_document_allows_is_accepted(password):
    body = {"name": "ada", "email": "ada@example.com", "password": password}
    if schema_of("NewUser").is_valid(body):
        assert password in PASSWORDS
        NewUserSchema().load(body)
    else:
        assert password not in PASSWORDS


def test_the_document_names_the_country_codes_the_service_accepts():
    country = openapi_document()["components"]["schemas"]["Address"]["properties"]["country"]
    assert set(country["enum"]) == ALPHA_2
    address = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115"}
    assert not schema_of("Address").is_valid({**address, "country": "XX"})
    assert AddressSchema().load({**address, "country": "de"})["country"] == "DE"


def test_what_a_create_answers_leads_to_every_operation_on_that_resource():
    paths = openapi_document()["paths"]
    placed = paths["/orders"]["post"]["responses"]["201"]["links"]
    assert set(placed) == {"get_order", "get_order_details", "cancel_order",
                           "set_order_status"}
    assert placed["cancel_order"]["parameters"] == {"order_id": "$response.body#/id"}
    commented = paths["/posts/{post_id}/comments"]["post"]["responses"]["201"]["links"]
    assert commented["delete_comment"]["parameters"] == {
        "post_id": "$request.path.post_id", "comment_id": "$response.body#/id"}
    assert "links" not in paths["/posts"]["get"]["responses"]["200"]  # POST /posts yields
    # Nothing creates a notification over HTTP: the list is the only way to one.
    listed = paths["/notifications"]["get"]["responses"]["200"]["links"]
    assert listed["mark_notification_read"]["parameters"] == {
        "notification_id": "$response.body#/items/0/id"}
    operation_ids = {op["operationId"] for methods in paths.values() for op in methods.values()}
    for methods in paths.values():
        for operation in methods.values():
            for answer in operation["responses"].values():
                for link in answer.get("links", {}).values():
                    assert link["operationId"] in operation_ids


PRODUCT = {"name": "Lamp", "price": "30.00", "category": "home"}
USER = {"name": "ada", "email": "ada@example.com", "password": "correct horse"}
EDGES = ["", " ", "\n", "\x00", "\u3000", "\u200b", "\x1c", "\x85", "\u202e", "😀", "李雷"]


@pytest.mark.parametrize(("component", "schema", "body", "field", "value"), [
    *[("NewUser", NewUserSchema, USER, "name", value) for value in [
        *EDGES, "Ada Lovelace", " Ada", "Ada ", "Ada\n", "A\nb", "A\u200bda", "élève"]],
    *[("NewProduct", NewProductSchema, PRODUCT, field, value) for field in ("name", "category")
      for value in [*EDGES, "Lamp", " x ", "\t\n", "a\x00", "x\n"]],
    *[("NewProduct", NewProductSchema, PRODUCT, "description", value) for value in EDGES],
    *[("NewUser", NewUserSchema, USER, "email", value) for value in [
        "ada@example.com", "A.B+c@mail.example.org", "0@0.a", "a..b@c.de", "a@localhost",
        "é@x.de", "ada@example.com\n", "x" * 250 + "@a.de"]],
    *[("NewProduct", NewProductSchema, PRODUCT, "stock", value) for value in [
        0, 5, 5.0, 5.5, "5", True, -1, 1_000_000_000, 1e9, 1e10]],
    *[("NewProduct", NewProductSchema, PRODUCT, "price", value) for value in [
        "19.99", "0.5", "0.01", "1000000", "1000000.00", 5, 1_000_000, "0", "0.00", 0, 19.99,
        "+5", "1e2", " 5", "05", "5.", "5\n", "19.999", "1000000.01", 1_000_001, True, None,
        7.0, 7.5]],
])
def test_the_document_allows_exactly_what_the_service_accepts(component, schema, body, field,
                                                                value):
    """Read as JSON Schema reads a pattern (ECMA 262, as a generated client does)."""
    document = openapi_document()
    valid_in_document = jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{component}", "components": document["components"]},
    ).is_valid({**body, field: value})
    try:
        load(schema(), {**body, field: value})
        accepted = True
    except InvalidInput:
        accepted = False
    assert valid_in_document == accepted
