"""The one table from error type to HTTP status, and the JSON error body."""

from __future__ import annotations

import json
import logging
from typing import Any

from nameko.exceptions import BadRequest as NamekoBadRequest
from nameko.exceptions import RemoteError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from shop.context import current_request_id
from shop.errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    KeyInFlight,
    NotFound,
    ServiceTimeout,
    ServiceUnavailable,
    ShopError,
    Unauthorized,
)

log = logging.getLogger(__name__)


class MalformedJson(ShopError):
    code = "MALFORMED_JSON"


class UnsupportedMediaType(ShopError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class BodyTooSlow(ShopError):
    """The body did not arrive within HTTP_BODY_TIMEOUT_SECONDS."""

    code = "REQUEST_TIMEOUT"


class IncompleteBody(ShopError):
    """The client stopped sending before the body's end (or sent a malformed chunk)."""

    code = "INCOMPLETE_BODY"


STATUS_BY_ERROR: dict[type[ShopError], int] = {
    InvalidInput: 400,
    MalformedJson: 400,
    IncompleteBody: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InsufficientStock: 409,
    KeyInFlight: 409,
    BodyTooSlow: 408,
    IdempotencyKeyReused: 422,
    UnsupportedMediaType: 415,
    ServiceUnavailable: 503,
    ServiceTimeout: 504,
}

# What a route may raise and still be answered with its own status, not logged as a bug.
EXPECTED_ERRORS = tuple(STATUS_BY_ERROR)


def to_json(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def json_response(payload: object, status: int = 200,
                  headers: dict[str, Any] | None = None) -> Response:
    if payload is None:  # no body, so no type for one (werkzeug would say text/plain)
        empty = Response("", status=status, headers=headers)
        del empty.headers["Content-Type"]
        return empty
    return Response(to_json(payload), status=status, headers=headers,
                    mimetype="application/json")


def error_response(status: int, code: str, message: str, details: object = None,
                   headers: dict[str, Any] | None = None) -> Response:
    body: dict[str, object] = {"error": message, "code": code,
                               "request_id": current_request_id()}
    if details:
        body["details"] = details
    return json_response(body, status, headers)


def response_for_exception(exc: BaseException) -> Response:
    """Maps any exception a request may end in to its JSON error response."""
    for error_type, status in STATUS_BY_ERROR.items():
        if isinstance(exc, error_type):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            if isinstance(exc, KeyInFlight):
                headers = {"Retry-After": str((exc.details or {}).get("retry_after", 1))}
            return error_response(status, exc.code, exc.message, exc.details, headers)
    if isinstance(exc, HTTPException):
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        code = exc.name.upper().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name, None, headers)
    if isinstance(exc, NamekoBadRequest):
        return error_response(400, "BAD_REQUEST", str(exc))
    if isinstance(exc, RemoteError):
        log.error("unexpected error from a service: %s: %s", exc.exc_type, exc.value)
    else:
        log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")
