"""Reading request bodies and building the parts of responses the routes share."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request

from gateway.errors import MalformedJson, UnsupportedMediaType
from gateway.http import API_PREFIX
from shop.errors import InvalidInput


def json_body(request: Request) -> dict:
    """The request's JSON object; 415 for another media type, 400 for anything but an object."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = request.get_data(cache=True)  # bounded by request.max_content_length: 413 past it
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise MalformedJson(f"The body is not valid JSON: {str(error)[:200]}.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.", {"_schema": ["Not an object."]})
    return body


def location(request: Request, path: str) -> dict:
    """A Location header for path, under /api/v1 when the request came that way."""
    prefix = API_PREFIX if request.path.startswith(API_PREFIX + "/") else ""
    return {"Location": prefix + path}
