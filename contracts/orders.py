"""What the orders service accepts and returns."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from shop.countries import ALPHA_2
from shop.money import Money
from shop.schemas import IDEMPOTENCY_KEY, PageSchema, Pattern, UtcDateTime, WholeNumber, not_blank

MAX_QUANTITY = 1000  # of a line; lines of one product merge (products takes 50 000)
MAX_LINES = 50
STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")
POSTAL_CODE = Pattern(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,19}$",
                      error="Letters, digits, spaces and dashes; at most 20.")


def country_code(value: str) -> None:
    if value.upper() not in ALPHA_2:
        raise ValidationError("Must be an ISO 3166-1 alpha-2 country code, such as DE.")


class AddressSchema(Schema):
    line1 = fields.String(required=True, validate=[validate.Length(min=1, max=200), not_blank])
    line2 = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    city = fields.String(required=True, validate=[validate.Length(min=1, max=100), not_blank])
    postal_code = fields.String(required=True, validate=POSTAL_CODE)
    country = fields.String(required=True, validate=[validate.Length(equal=2), country_code],
                            metadata={"enum": sorted(ALPHA_2),
                                      "description": "ISO 3166-1 alpha-2 (any case)."})

    @post_load
    def normalise(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["country"] = data["country"].upper()
        return data


class OrderLineSchema(Schema):
    product_id = fields.UUID(required=True)
    quantity = WholeNumber(required=True, strict=True,
                           validate=validate.Range(min=1, max=MAX_QUANTITY))


class NewOrderSchema(Schema):
    """An order request. Lines naming the same product are merged into one."""

    items = fields.List(fields.Nested(OrderLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
    shipping_address = fields.Nested(AddressSchema, required=True)

    @post_load
    def merge(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["items"] = [{"product_id": product_id, "quantity": quantity}
                         for product_id, quantity in sorted(merge_lines(data["items"]).items())]
        return data


def merge_lines(lines: list[dict[str, Any]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for line in lines:
        product_id = str(line["product_id"])
        merged[product_id] = merged.get(product_id, 0) + line["quantity"]
    return merged


def fingerprint(order_request: dict[str, Any]) -> str:
    """The same request, however its lines were split or ordered, has the same print."""
    canonical = json.dumps(order_request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class OrderQuerySchema(PageSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    user_id = fields.UUID()


class StatusSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("paid", "shipped",
                                                                   "delivered")))


class IdempotencyKeySchema(Schema):
    key = fields.String(allow_none=True, validate=IDEMPOTENCY_KEY)


class OrderItemSchema(Schema):
    product_id = fields.String()
    name = fields.String()
    unit_price = Money(dump_only=True)
    quantity = fields.Integer()
    line_total = Money(dump_only=True)


class OrderSchema(Schema):
    id = fields.String()
    user_id = fields.String()
    status = fields.String()
    items = fields.List(fields.Nested(OrderItemSchema))
    total = Money(dump_only=True)
    shipping_address = fields.Dict()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
