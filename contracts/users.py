"""What the users service accepts and returns."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from shop.schemas import ROLES, ChangesSchema, UtcDateTime

PASSWORD_MIN_BYTES = 8
PASSWORD_MAX_BYTES = 72  # bcrypt reads no further


def password_length(value: str) -> None:
    size = len(value.encode())
    if not PASSWORD_MIN_BYTES <= size <= PASSWORD_MAX_BYTES:
        raise ValidationError(
            f"Must be {PASSWORD_MIN_BYTES} to {PASSWORD_MAX_BYTES} bytes long (UTF-8).")


def printable_name(value: str) -> None:
    if value != value.strip() or not value.isprintable():
        raise ValidationError("No leading or trailing spaces, nor control characters.")


def name_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=50), printable_name], **kwargs)


def email_field(**kwargs: Any) -> fields.Email:
    return fields.Email(validate=validate.Length(max=254), **kwargs)


# JSON Schema counts characters, not bytes: the document states the closest bound every
# password within it meets (ASCII up to 72 characters, or any text up to 18, 4 bytes
# each at most), and the rule itself in words.
PASSWORD_DOCUMENTED = {
    "minLength": PASSWORD_MIN_BYTES,
    "maxLength": PASSWORD_MAX_BYTES,
    "anyOf": [{"pattern": "^[\\u0000-\\u007f]*$"}, {"maxLength": PASSWORD_MAX_BYTES // 4}],
    "description": f"{PASSWORD_MIN_BYTES} to {PASSWORD_MAX_BYTES} bytes in UTF-8.",
}


def password_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=password_length, load_only=True,
                         metadata=PASSWORD_DOCUMENTED, **kwargs)


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
