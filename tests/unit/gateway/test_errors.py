"""Every exception a request can end in becomes a JSON error with the right status."""

import json

import pytest
from nameko.exceptions import BadRequest, RemoteError
from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge

from gateway.errors import MalformedJson, UnsupportedMediaType, response_for_exception
from shop.context import bind_request_id
from shop.errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    NotFound,
    ServiceTimeout,
    ServiceUnavailable,
    Unauthorized,
)


def body(response):
    assert response.mimetype == "application/json"
    return json.loads(response.get_data())


@pytest.mark.parametrize("error, status", [
    (InvalidInput("bad", {"name": ["Missing."]}), 400), (MalformedJson("bad"), 400),
    (Unauthorized("who?"), 401), (Forbidden("no"), 403), (NotFound("gone"), 404),
    (Conflict("taken"), 409), (InsufficientStock("few"), 409),
    (IdempotencyKeyReused("other body"), 422), (UnsupportedMediaType("xml"), 415),
    (ServiceUnavailable("down"), 503), (ServiceTimeout("slow"), 504),
])
def test_domain_errors_keep_their_code_message_and_details(error, status):
    bind_request_id("req-1")
    try:
        response = response_for_exception(error)
    finally:
        bind_request_id(None)
    assert response.status_code == status
    answer = body(response)
    assert answer["code"] == error.code and answer["error"] == error.message
    assert answer["request_id"] == "req-1"
    assert answer.get("details") == error.details
    assert ("WWW-Authenticate" in response.headers) == (status == 401)


def test_routing_errors_keep_their_status_and_headers():
    response = response_for_exception(MethodNotAllowed(valid_methods=["GET"]))
    assert response.status_code == 405 and response.headers["Allow"] == "GET"
    assert body(response)["code"] == "METHOD_NOT_ALLOWED"
    assert response_for_exception(RequestEntityTooLarge()).status_code == 413


def test_a_bad_nameko_call_is_400():
    assert response_for_exception(BadRequest("bad arguments")).status_code == 400


@pytest.mark.parametrize("error", [RemoteError("KeyError", "'x'"), KeyError("x"),
                                   RuntimeError("bug")])
def test_anything_else_is_a_500_that_shows_no_internals(error):
    response = response_for_exception(error)
    assert response.status_code == 500
    answer = body(response)
    assert "x" not in answer["error"] and "bug" not in answer["error"]
