"""What a route may return, and the routes every path is served under."""

import json

from werkzeug.wrappers import Response

from gateway.access import prefix_of, route_template, with_prefixes
from gateway.http import Route


def route():
    return Route("GET", "/things")


def test_a_payload_is_a_200_json_body():
    response = route().response_from_result({"id": 1})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert json.loads(response.get_data()) == {"id": 1}


def test_a_status_and_payload_and_optional_headers():
    created = route().response_from_result((201, {"Location": "/things/1"}, {"id": 1}))
    assert created.status_code == 201 and created.headers["Location"] == "/things/1"
    deleted = route().response_from_result((204, None))
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert "Content-Type" not in deleted.headers


def test_a_response_is_passed_on_as_it_is():
    own = Response("text", status=202, mimetype="text/plain")
    assert route().response_from_result(own) is own


def test_every_path_is_also_under_the_api_prefixes():
    assert with_prefixes(("/signin", "/users")) == frozenset(
        {"/signin", "/users", "/api/v1/signin", "/api/v1/users", "/api/signin", "/api/users"})


def test_a_route_has_one_name_under_every_prefix():
    for rule in ("/users/<string:user_id>", "/api/v1/users/<string:user_id>",
                 "/api/users/<string:user_id>"):
        assert route_template(rule) == "/users/{user_id}"
    assert prefix_of("/api/v1/orders/1/details") == "/api/v1"
    assert prefix_of("/api/orders/1/details") == "/api"
    assert prefix_of("/apis/orders") == prefix_of("/orders") == ""
