"""/openapi.json describes exactly the routes the gateway serves."""

import inspect

from jsonschema import Draft202012Validator

from gateway.access import route_template
from gateway.http import Route
from gateway.openapi import OPERATIONS, openapi_document
from gateway.service import GatewayService


def served_routes() -> set[tuple[str, str]]:
    routes = set()
    for _, method in inspect.getmembers(GatewayService, inspect.isfunction):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Route):
                routes.add((entrypoint.method, route_template(entrypoint.url)))
    return routes


def test_every_route_is_documented_and_every_entry_is_a_route():
    assert served_routes() == set(OPERATIONS)


def test_the_document_is_openapi_3_1_with_valid_schemas():
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    signed_in = document["paths"]["/orders"]["post"]
    assert signed_in["security"] == [{"bearer": []}]
    assert {"201", "200", "409", "422", "default"} <= set(signed_in["responses"])
