"""The typed errors that cross the wire between services; the gateway maps each to a status.

Each class is registered with nameko so that a caller gets the same type back from a
remote call (not a generic RemoteError), with its message and details intact.
"""

from __future__ import annotations

import json
from typing import Any

from nameko.exceptions import deserialize_to_instance


class ShopError(Exception):
    """Base of every domain error: a human message, a machine code, optional details."""

    code = "ERROR"

    def __init__(self, message: str, details: dict[str, Any] | str | None = None):
        # nameko turns every argument that is not a string, list or dict into its str()
        # on the wire (numbers too), so details travel as JSON text and come back intact.
        decoded = _decoded(details) if isinstance(details, str) else details
        super().__init__(*([message] if decoded is None else [message, json.dumps(decoded)]))
        self.message = message
        self.details = decoded

    def __str__(self) -> str:
        return self.message


def _decoded(details: str) -> dict[str, Any]:
    """Details as they come back over the wire (JSON text), or text given as details."""
    try:
        decoded = json.loads(details)
    except ValueError:
        return {"detail": details}
    return decoded if isinstance(decoded, dict) else {"detail": decoded}


@deserialize_to_instance
class InvalidInput(ShopError):
    """Input failed validation; details map each field to its messages."""

    code = "VALIDATION_ERROR"


@deserialize_to_instance
class NotFound(ShopError):
    code = "NOT_FOUND"


@deserialize_to_instance
class Conflict(ShopError):
    """The change clashes with existing data (a taken email, say)."""

    code = "CONFLICT"


@deserialize_to_instance
class InsufficientStock(ShopError):
    """Not enough stock; details map each short product id to requested and available."""

    code = "INSUFFICIENT_STOCK"


@deserialize_to_instance
class IdempotencyKeyReused(ShopError):
    """An idempotency key already used for a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"


@deserialize_to_instance
class KeyInFlight(ShopError):
    """A write under this idempotency key is still running; details: {"retry_after": s}."""

    code = "IDEMPOTENCY_KEY_IN_FLIGHT"


@deserialize_to_instance
class Forbidden(ShopError):
    code = "FORBIDDEN"


@deserialize_to_instance
class Unauthorized(ShopError):
    code = "UNAUTHORIZED"


@deserialize_to_instance
class ServiceUnavailable(ShopError):
    """The service that should answer is not running (or a dependency is down)."""

    code = "SERVICE_UNAVAILABLE"


@deserialize_to_instance
class ServiceTimeout(ShopError):
    """The service did not answer within the call's deadline."""

    code = "SERVICE_TIMEOUT"


DOMAIN_ERRORS = (InvalidInput, NotFound, Conflict, InsufficientStock, IdempotencyKeyReused,
                 KeyInFlight, Forbidden, Unauthorized, ServiceUnavailable, ServiceTimeout)
