"""Reading request bodies and building the parts of responses the routes share."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from gateway.access import prefix_of
from gateway.errors import MalformedJson, UnsupportedMediaType
from shop.errors import InvalidInput


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; 415 for another media type, 400 for anything but an object."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = bounded_body(request)
    try:
        body = json.loads(raw)
    except RecursionError:
        raise MalformedJson("The body is nested too deeply.") from None
    except ValueError as error:
        raise MalformedJson(f"The body is not valid JSON: {str(error)[:200]}.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.", {"_schema": ["Not an object."]})
    return body


def bounded_body(request: Request) -> bytes:
    """The raw body; 413 when it is over request.max_content_length.

    A Content-Length over the limit was refused before routing. A chunked body has no
    length: werkzeug stops reading at the limit, so one byte more tells if it went on.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if (request.content_length is None and limit is not None and len(raw) >= limit
            and request.environ["wsgi.input"].read(1)):
        raise RequestEntityTooLarge(f"The body is larger than {limit} bytes.")
    return raw


def location(request: Request, path: str) -> dict[str, Any]:
    """A Location header for path, under the prefix the request came by (/api/v1, /api)."""
    return {"Location": prefix_of(request.path) + path}


def replayed_header(replayed: bool) -> dict[str, str]:
    """Marks the answer to a write retried under its Idempotency-Key: the first one's."""
    return {"Idempotent-Replayed": "true"} if replayed else {}
