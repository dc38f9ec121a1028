"""Marshmallow helpers shared by the services: loading with typed errors, paging, actors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shop.errors import Forbidden, InvalidInput, NotFound

MAX_PAGE_SIZE = 100
ROLES = ("user", "admin")


UNSTORABLE_TEXT = "Text must not contain NUL characters or unpaired surrogates."


def unstorable_text(data: Any) -> Any:
    """Per-field messages for text no database can store, else None: NUL characters
    (PostgreSQL refuses them) and unpaired surrogates (they have no UTF-8 form)."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return [UNSTORABLE_TEXT]
        return [UNSTORABLE_TEXT] if "\x00" in data else None
    if isinstance(data, dict | list):
        pairs = data.items() if isinstance(data, dict) else enumerate(data)
        found = {key: messages for key, value in pairs
                 if (messages := unstorable_text(value)) is not None}
        return found or None
    return None


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Validates data with schema, raising InvalidInput with per-field messages."""
    try:
        unstorable = unstorable_text(data)
    except RecursionError:
        raise InvalidInput("The input is nested too deeply.", {"_schema": ["Too deep."]}) from None
    if unstorable:
        raise InvalidInput("The input is not valid.", unstorable if isinstance(
            unstorable, dict) else {"_schema": unstorable})
    try:
        loaded: dict[str, Any] = schema.load(data if data is not None else {})
        return loaded
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {
            "_schema": error.messages}
        raise InvalidInput("The input is not valid.", messages) from None


def not_blank(value: str) -> None:
    """A validator: text must hold more than white space."""
    if not value.strip():
        raise ValidationError("Must not be blank.")


class ChangesSchema(Schema):
    """A PATCH body: any of its fields, but at least one (the OpenAPI document says
    minProperties: 1 for every subclass)."""

    EMPTY = "Give at least one field to change."

    @validates_schema
    def not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError(self.EMPTY)


class PageSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


def page_of(items: list[Any], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"items": items, "page": page, "limit": limit, "total": total}


class ActorSchema(Schema):
    """Who is acting: a signed-in user, or an operator (role admin, no id) in the shell."""

    id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


def load_actor(actor: Any) -> dict[str, Any]:
    """Validates an actor argument; a missing or malformed one may do nothing."""
    if actor is None:
        raise Forbidden("This action needs an actor: {'id': ..., 'role': ...}.")
    return load(ActorSchema(), actor)


def is_admin(actor: dict[str, Any]) -> bool:
    return bool(actor["role"] == "admin")


def acts_for(actor: dict[str, Any], owner_id: str) -> bool:
    """True when actor is the owner or an admin: who may change the owner's things."""
    return is_admin(actor) or (actor["id"] is not None and actor["id"] == owner_id)


def load_author(actor: Any) -> dict[str, Any]:
    """An actor who will own what it creates, so it must name a user id."""
    author = load_actor(actor)
    if author["id"] is None:
        raise InvalidInput("Only a user can author this; give the actor an id.",
                           {"actor": ["An id is required."]})
    return author


def utcnow() -> datetime:
    """Now in UTC, without tzinfo: how the databases store times."""
    return datetime.now(UTC).replace(tzinfo=None)


class UtcDateTime(fields.DateTime):
    """Dumps naive datetimes (stored as UTC) with their +00:00 offset."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any,
                   **kwargs: Any) -> str | float | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def parse_id(value: Any, what: str) -> str:
    """Returns value as a canonical UUID string; anything else names no resource."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise no_such(what, value)


def no_such(what: str, value: Any) -> NotFound:
    """The error for an id that names nothing the caller may see (absent, or someone
    else's: the two answer alike)."""
    return NotFound(f"No {what} with id {str(value)[:64]!r}.")
