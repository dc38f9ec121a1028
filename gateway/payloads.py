"""Reading request bodies and building the parts of responses the routes share."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import eventlet
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from gateway.access import prefix_of
from gateway.errors import BodyTooSlow, IncompleteBody, MalformedJson, UnsupportedMediaType
from shop.errors import InvalidInput

log = logging.getLogger(__name__)
READ_SIZE = 64 * 1024
BODY_READ_KEY = "shop.body_read"  # in the environ: the body is in memory


def declares_body(environ: dict[str, Any]) -> bool:
    """Whether the request says a body follows its head."""
    return environ.get("CONTENT_LENGTH", "") not in ("", "0") \
        or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def read_whole_body(environ: dict[str, Any], limit: int, seconds: float) -> None:
    """Reads the request's body into memory before any worker is taken, so that a slow
    client holds a connection and nothing else: at most limit bytes (else 413), within
    seconds (else 408); a client that stops short gets 400 (if it still listens)."""
    declared = environ.get("CONTENT_LENGTH")
    expected = int(declared) if declared else None  # eventlet refused any other value
    stream, chunks, size = environ["wsgi.input"], [], 0
    deadline = eventlet.Timeout(seconds)
    try:
        while True:
            chunk = stream.read(min(READ_SIZE, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge(f"The body is larger than {limit} bytes.")
    except eventlet.Timeout as timeout:
        if timeout is not deadline:
            raise
        log.info("a request body took over %s s; answered 408", seconds)
        raise BodyTooSlow(f"The body took longer than {seconds:g} s to arrive.") from None
    except (OSError, ValueError) as error:  # a reset, or a malformed chunk
        log.info("a request body ended early: %s", error)
        raise IncompleteBody("The body ended before it was complete.") from None
    finally:
        deadline.cancel()
    if expected is not None and size < expected:
        log.info("a request body ended after %s of %s bytes", size, expected)
        raise IncompleteBody("The body ended before its Content-Length.")
    environ["wsgi.input"] = io.BytesIO(b"".join(chunks))
    environ["CONTENT_LENGTH"] = str(size)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)
    environ[BODY_READ_KEY] = True


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
