"""What the users service accepts and returns."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from shop.schemas import ROLES, SPACES, ChangesSchema, Pattern, UtcDateTime

# Any text: all of it counts (users/passwords.py hashes a SHA-256 of it, so bcrypt's 72
# bytes do not cut it short). The upper bound only keeps requests small.
PASSWORD = validate.Length(min=8, max=1024)

# A name shows as written: no control characters, none that are invisible or reorder
# text (zero-width, bidirectional), no line breaks, and no space at either end.
HIDDEN = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
PRINTABLE_NAME = Pattern(rf"^[^{SPACES}{HIDDEN}](?:[^{HIDDEN}]*[^{SPACES}{HIDDEN}])?$",
                         error="No space at either end; no control or invisible characters.")


def name_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=50), PRINTABLE_NAME], **kwargs)


# An address as most mail systems take it, stated as one pattern so that the document and
# the service agree: dot-separated ASCII atoms, @, a domain with a TLD of 2 or more.
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = Pattern(rf"^{ATOM}(?:\.{ATOM})*@(?:{LABEL}\.)+[A-Za-z][A-Za-z0-9-]{{0,61}}[A-Za-z0-9]$",
                error="Not a valid email address.")


def email_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=254), EMAIL],
                         metadata={"description": "An email address (ASCII)."}, **kwargs)


def password_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=PASSWORD, load_only=True, **kwargs)


class NewUserSchema(Schema):
    name = name_field(required=True)
    email = email_field(required=True)
    password = password_field(required=True)

    @post_load
    def normalise_email(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["email"] = data["email"].lower()
        return data


class UserChangesSchema(ChangesSchema):
    EMPTY = "Give at least one of name, email, password, role."

    name = name_field()
    email = email_field()
    password = password_field()
    role = fields.String(validate=validate.OneOf(ROLES))

    @post_load
    def normalise_email(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "email" in data:
            data["email"] = data["email"].lower()
        return data


class CredentialsSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    # Checked against the stored hash, not against the rules for new passwords.
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class EmailSchema(Schema):
    email = email_field(required=True)

    @post_load
    def normalise_email(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["email"] = data["email"].lower()  # as accounts store it
        return data


class RoleSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class UserSchema(Schema):
    """A user as its owner or an admin sees it."""

    id = fields.String()
    name = fields.String()
    email = fields.String()
    role = fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PublicUserSchema(UserSchema):
    """A user as anyone else sees it: no email."""

    class Meta:
        exclude = ("email",)
