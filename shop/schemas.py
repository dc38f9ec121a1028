"""Marshmallow helpers shared by the services: loading with typed errors, paging, actors."""

from __future__ import annotations

import re
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
        raise InvalidInput("The input is not valid.", bounded(unstorable if isinstance(
            unstorable, dict) else {"_schema": unstorable}))
    try:
        loaded: dict[str, Any] = schema.load(data if data is not None else {})
        return loaded
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {
            "_schema": error.messages}
        raise InvalidInput("The input is not valid.", bounded(messages)) from None


FIELDS_REPORTED = 20  # an error names this many fields at most, at each level


def bounded(messages: dict[Any, Any]) -> dict[Any, Any]:
    """Validation messages cut to the first FIELDS_REPORTED fields (in name order) at each
    level, the rest counted under _schema: an input of 60,000 unknown keys gets a short
    answer."""
    first = sorted(messages, key=str)[:FIELDS_REPORTED]
    kept = {field: bounded(messages[field]) if isinstance(messages[field], dict)
            else messages[field] for field in first}
    left_out = len(messages) - len(kept)
    if left_out > 0:
        noted = [*kept.get("_schema", []), f"And {left_out} more fields with errors."]
        kept["_schema"] = noted
    return kept


class Pattern(validate.Regexp):
    """A regular expression the whole value must match, written so that JSON Schema (ECMA
    262) reads it as Python does: the OpenAPI document prints it as the field's pattern.

    Python's `$` also matches before a final newline, ECMA's does not: the whole value
    must match here, which is how ECMA reads `^...$`."""

    def __init__(self, regex: str, error: str):
        super().__init__(regex, error=error)
        self.whole: re.Pattern[str] = re.compile(regex)

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.whole.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# The characters str.isspace() calls white space, spelt out: ECMA's \s is another set.
SPACES = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Any text a database can store, as JSON Schema can say it: no NUL. (Unpaired surrogates
# are refused too, but no JSON Schema pattern names them portably, and JSON encoders
# cannot send them.)
STORABLE = r"^[^\u0000]*$"
not_blank = Pattern(rf"^[^\u0000]*[^{SPACES}\u0000][^\u0000]*$",
                    error="Must not be blank.")
# A key a client makes up for a write it may retry: 1 to 255 visible ASCII characters
# (a header value cannot begin or end with a space).
IDEMPOTENCY_KEY = Pattern(r"^[!-~](?:[ -~]{0,253}[!-~])?$",
                          error="1 to 255 visible ASCII characters; spaces inside only.")


def load_idempotency_key(key: Any) -> str:
    try:
        return str(IDEMPOTENCY_KEY(key))
    except ValidationError as error:
        raise InvalidInput("The Idempotency-Key is not valid.",
                           {"idempotency_key": error.messages}) from None


class WholeNumber(fields.Integer):
    """An integer as JSON Schema counts one: 5 and 5.0 alike; a fraction, a bool or (when
    strict, as in a JSON body) a string is refused, never rounded. Not strict, it also
    reads the digits of a query string."""

    DIGITS = re.compile(r"-?[0-9]{1,18}(?:\.0+)?")

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and not self.strict and self.DIGITS.fullmatch(value):
            return int(float(value)) if "." in value else int(value)
        raise self.make_error("invalid")


class ChangesSchema(Schema):
    """A PATCH body: any of its fields, but at least one (the OpenAPI document says
    minProperties: 1 for every subclass)."""

    EMPTY = "Give at least one field to change."

    @validates_schema
    def not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError(self.EMPTY)


class OneOfSchema(Schema):
    """A body of exactly one of its fields (the OpenAPI document says minProperties and
    maxProperties 1 for every subclass)."""

    EXACTLY_ONE = "Give exactly one of the fields."

    @validates_schema
    def exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError(self.EXACTLY_ONE)


class PageSchema(Schema):
    page = WholeNumber(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = WholeNumber(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


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
