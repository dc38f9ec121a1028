"""What the products service accepts and returns."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from shop.money import Cents, Money
from shop.schemas import (
    ChangesSchema,
    OneOfSchema,
    PageSchema,
    UtcDateTime,
    WholeNumber,
    not_blank,
)

# Of one product in one order: its lines are merged, 50 lines of at most 1000 each.
MAX_QUANTITY = 50_000
# The most products one call takes stock of or fetches (an order has at most 50 lines).
MAX_PRODUCTS_AT_ONCE = 100
STOCK_RANGE = validate.Range(min=0, max=1_000_000_000)
DELTA_RANGE = validate.Range(min=-1_000_000, max=1_000_000)
SORTS = {"price", "-price", "name", "-created_at"}


def name_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=200), not_blank], **kwargs)


def category_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=50), not_blank], **kwargs)


def description_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(max=5000), **kwargs)


class NewProductSchema(Schema):
    name = name_field(required=True)
    description = description_field(load_default="")
    price = Money(required=True)
    category = category_field(required=True)
    stock = WholeNumber(load_default=0, strict=True, validate=STOCK_RANGE)


class ProductChangesSchema(ChangesSchema):
    name = name_field()
    description = description_field()
    price = Money()
    category = category_field()
    is_active = fields.Boolean()


class ProductQuerySchema(PageSchema):
    category = fields.String(validate=validate.Length(min=1, max=50))
    min_price = Money(allow_zero=True)
    max_price = Money(allow_zero=True)
    q = fields.String(validate=validate.Length(min=1, max=100))
    in_stock = fields.Boolean()
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(sorted(SORTS)))


class StockChangeSchema(Schema):
    delta = WholeNumber(required=True, strict=True, validate=DELTA_RANGE)


class StockSettingSchema(OneOfSchema):
    """PATCH /products/{id}/stock: add `delta` units (negative to write off), or set the
    `stock` outright."""

    EXACTLY_ONE = "Give either delta (units to add or remove) or stock (the new count)."
    delta = WholeNumber(strict=True, validate=DELTA_RANGE)
    stock = WholeNumber(strict=True, validate=STOCK_RANGE)


class WantedItemSchema(Schema):
    product_id = fields.UUID(required=True)
    quantity = WholeNumber(required=True, strict=True,
                           validate=validate.Range(min=1, max=MAX_QUANTITY))


class StockTakeSchema(Schema):
    order_id = fields.UUID(required=True)
    items = fields.List(fields.Nested(WantedItemSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_PRODUCTS_AT_ONCE))

    @validates_schema
    def distinct_products(self, data: dict[str, Any], **kwargs: Any) -> None:
        ids = [item["product_id"] for item in data.get("items", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("Each product may appear once.", "items")

    @post_load
    def as_strings(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["order_id"] = str(data["order_id"])
        for item in data["items"]:
            item["product_id"] = str(item["product_id"])
        return data


class ProductIdsSchema(Schema):
    """The products one get_many call may ask for: as many as an order has lines."""

    ids = fields.List(fields.UUID(), required=True,
                      validate=validate.Length(min=1, max=MAX_PRODUCTS_AT_ONCE))


class ProductSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    price = Cents(attribute="price_cents")  # dumps ORM objects and Core rows alike
    category = fields.String()
    stock = fields.Integer()
    is_active = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
