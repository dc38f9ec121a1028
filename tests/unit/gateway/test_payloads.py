"""Request bodies: only a JSON object of bounded size gets through to a route."""

import io

import pytest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.errors import MalformedJson, UnsupportedMediaType
from gateway.payloads import json_body, location
from shop.errors import InvalidInput


def request(data, content_type="application/json", path="/posts", max_bytes=None):
    built = Request(EnvironBuilder(path=path, method="POST", data=data,
                                   content_type=content_type).get_environ())
    built.max_content_length = max_bytes
    return built


def test_a_json_object_is_read():
    assert json_body(request(b'{"title": "hi"}')) == {"title": "hi"}


def test_another_media_type_is_415():
    with pytest.raises(UnsupportedMediaType):
        json_body(request(b"title=hi", "application/x-www-form-urlencoded"))


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff\xfe", b"[" * 100000 + b"]" * 100000])
def test_malformed_or_too_deep_json_is_400(raw):
    with pytest.raises(MalformedJson):
        json_body(request(raw))


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"1", b"null"])
def test_json_that_is_not_an_object_is_invalid_input(raw):
    with pytest.raises(InvalidInput) as error:
        json_body(request(raw))
    assert error.value.details == {"_schema": ["Not an object."]}


def test_a_chunked_body_over_the_limit_is_413():
    """A chunked body has no Content-Length; reading past the limit tells it went on."""
    environ = EnvironBuilder(path="/posts", method="POST",
                             content_type="application/json").get_environ()
    body = b'{"title": "' + b"x" * 100 + b'"}'
    environ.update({"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    environ.pop("CONTENT_LENGTH", None)
    chunked = Request(environ)
    chunked.max_content_length = 50
    with pytest.raises(RequestEntityTooLarge):
        json_body(chunked)


def test_location_follows_the_prefix_the_request_came_by():
    assert location(request(b"{}"), "/posts/1") == {"Location": "/posts/1"}
    assert location(request(b"{}", path="/api/v1/posts"), "/posts/1") == {
        "Location": "/api/v1/posts/1"}
