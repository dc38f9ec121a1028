"""The OpenAPI 3.1 document of every route, built from the services' schemas in contracts/.

Each route has one entry in OPERATIONS; a test holds the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_instance
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from marshmallow import Schema, fields
from marshmallow.validate import OneOf

import shop
from contracts.notifications import NotificationQuerySchema, NotificationSchema
from contracts.orders import NewOrderSchema, OrderQuerySchema, OrderSchema, StatusSchema
from contracts.posts import (
    CommentSchema,
    NewCommentSchema,
    NewPostSchema,
    PostChangesSchema,
    PostListSchema,
    PostSchema,
)
from contracts.products import (
    NewProductSchema,
    ProductChangesSchema,
    ProductQuerySchema,
    ProductSchema,
    StockSettingSchema,
)
from contracts.users import CredentialsSchema, NewUserSchema, UserChangesSchema, UserSchema
from shop.money import Cents, Money
from shop.schemas import IDEMPOTENCY_KEY as KEY_RULE
from shop.schemas import STORABLE, ChangesSchema, OneOfSchema, PageSchema


class ErrorSchema(Schema):
    error = fields.String(required=True)
    code = fields.String(required=True)
    request_id = fields.String(required=True)
    details = fields.Dict()


class SignInResultSchema(Schema):
    token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    user = fields.Nested(UserSchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=OneOf(("ok", "draining")))


class ServicesHealthSchema(Schema):
    status = fields.String(required=True)
    services = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)


class InfoSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    uptime_seconds = fields.Float(required=True)
    services = fields.List(fields.String(), required=True)


class OrderDetailsSchema(Schema):
    order = fields.Nested(OrderSchema, required=True)
    buyer = fields.Nested(UserSchema, allow_none=True, required=True)
    products = fields.Dict(keys=fields.String(),
                           values=fields.Nested(ProductSchema, allow_none=True), required=True)
    unavailable = fields.List(fields.String(), required=True)


class MarkedSchema(Schema):
    marked = fields.Integer(required=True)


def page_schema(name: str, item: type[Schema]) -> type[Schema]:
    return type(f"{name}PageSchema", (Schema,), {
        "items": fields.List(fields.Nested(item), required=True),
        "page": fields.Integer(required=True), "limit": fields.Integer(required=True),
        "total": fields.Integer(required=True)})


UserPage = page_schema("User", UserSchema)
PostPage = page_schema("Post", PostSchema)
CommentPage = page_schema("Comment", CommentSchema)
ProductPage = page_schema("Product", ProductSchema)
OrderPage = page_schema("Order", OrderSchema)
NotificationPage = page_schema("Notification", NotificationSchema)


class UsersQuerySchema(PageSchema):
    pass


class ContractConverter(OpenAPIConverter):
    """apispec's converter, plus what marshmallow validators say and JSON Schema can too:
    a PATCH body needs at least one property, an amount is a string of a given form or a
    whole number, and text a client sends holds no NUL."""

    def field2property(self, field: fields.Field[Any]) -> dict[str, Any]:
        described: dict[str, Any] = super().field2property(field)
        if isinstance(field, Money) and not field.dump_only:
            del described["type"]
            described.update(field.documented())
        elif (described.get("type") in ("string", ["string", "null"]) and field.validators
              and "pattern" not in described and "enum" not in described):
            # A field with validators is one a client sends (the answers' have none).
            described["pattern"] = STORABLE
        return described

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        described: dict[str, Any] = super().schema2jsonschema(  # type: ignore[no-untyped-call]
            schema)
        if isinstance(resolve_schema_instance(schema), ChangesSchema):
            described["minProperties"] = 1
        if isinstance(resolve_schema_instance(schema), OneOfSchema):
            described["minProperties"] = described["maxProperties"] = 1
        return described


class ContractPlugin(MarshmallowPlugin):
    Converter = ContractConverter


@dataclass(frozen=True)
class Operation:
    id: str  # the operationId: the gateway's handler of the route (a test holds them equal)
    summary: str
    tag: str
    ok: tuple[int, type[Schema] | str | None] = (200, None)
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    errors: tuple[int, ...] = ()
    also_ok: tuple[tuple[int, type[Schema]], ...] = ()  # other answers with a body of their own
    signed_in: bool = False
    # (a path parameter, where in the answer a value for it is): what this operation's
    # answer lets a client call next, stated as OpenAPI links. A list yields its first item
    # only where no operation creates that resource: an empty page yields nothing.
    yields: tuple[str, str] | None = None


# Every write takes an Idempotency-Key (shop/idempotency.py); sign-in writes nothing.
RETRY_SAFE = {"POST", "PATCH", "DELETE"}
NOT_A_WRITE = {("POST", "/signin")}
IDEMPOTENCY_KEY = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "Makes the write safe to retry: the first answer to a key is kept "
                   "(per user, or per client address when signed out) for "
                   "IDEMPOTENCY_SECONDS (24 h); a retry with the same request gets it "
                   "again, marked Idempotent-Replayed: true, and writes nothing. The same "
                   "key with another request: 422; while the first still runs: 409 with "
                   "Retry-After. Only a write that succeeded is kept.",
    "schema": {"type": "string", "pattern": KEY_RULE.regex.pattern}}
REPLAYED = {"Idempotent-Replayed": {
    "description": "true when this is the kept answer to an earlier request with the "
                   "same Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/signin"): Operation(
        "sign_in", "Sign in with email and password", "users", (200, SignInResultSchema),
        CredentialsSchema, errors=(400, 401)),
    ("POST", "/users"): Operation(
        "create_user", "Sign up", "users", (201, UserSchema), NewUserSchema, errors=(400, 409),
        yields=("user_id", "/id")),
    ("GET", "/users"): Operation(
        "list_users", "List users (public profiles)", "users", (200, UserPage),
        query=UsersQuerySchema, errors=(400,)),
    ("GET", "/users/me"): Operation(
        "get_me", "The signed-in user", "users", (200, UserSchema), errors=(401,), signed_in=True),
    ("PATCH", "/users/me"): Operation(
        "update_me", "Change the signed-in user", "users", (200, UserSchema), UserChangesSchema,
        errors=(400, 401, 409), signed_in=True),
    ("DELETE", "/users/me"): Operation(
        "delete_me", "Delete the signed-in user", "users", (204, None), errors=(401,),
        signed_in=True),
    ("GET", "/users/{user_id}"): Operation(
        "get_user", "A user (email for self or admin; cached)", "users", (200, UserSchema),
        errors=(401, 404)),
    ("PATCH", "/users/{user_id}"): Operation(
        "update_user", "Change a user (self or admin)", "users", (200, UserSchema),
        UserChangesSchema, errors=(400, 401, 403, 404, 409), signed_in=True),
    ("DELETE", "/users/{user_id}"): Operation(
        "delete_user", "Delete a user (self or admin)", "users", (204, None),
        errors=(401, 403, 404), signed_in=True),
    ("POST", "/posts"): Operation(
        "create_post", "Write a post", "posts", (201, PostSchema), NewPostSchema,
        errors=(400, 401), signed_in=True, yields=("post_id", "/id")),
    ("GET", "/posts"): Operation(
        "list_posts", "List posts, newest first", "posts", (200, PostPage), query=PostListSchema,
        errors=(400,)),
    ("GET", "/posts/{post_id}"): Operation(
        "get_post", "A post (cached)", "posts", (200, PostSchema), errors=(404,)),
    ("PATCH", "/posts/{post_id}"): Operation(
        "update_post", "Change a post (author or admin)", "posts", (200, PostSchema),
        PostChangesSchema, errors=(400, 401, 403, 404), signed_in=True),
    ("DELETE", "/posts/{post_id}"): Operation(
        "delete_post", "Delete a post and its comments", "posts", (204, None),
        errors=(401, 403, 404), signed_in=True),
    ("POST", "/posts/{post_id}/comments"): Operation(
        "add_comment", "Comment on a post", "posts", (201, CommentSchema), NewCommentSchema,
        errors=(400, 401, 404), signed_in=True, yields=("comment_id", "/id")),
    ("GET", "/posts/{post_id}/comments"): Operation(
        "list_comments", "A post's comments, oldest first", "posts", (200, CommentPage),
        query=PageSchema, errors=(400, 404)),
    ("DELETE", "/posts/{post_id}/comments/{comment_id}"): Operation(
        "delete_comment", "Delete a comment (its author, the post's author, admin)", "posts",
        (204, None), errors=(401, 403, 404), signed_in=True),
    ("GET", "/products"): Operation(
        "list_products", "Browse products (cached)", "products", (200, ProductPage),
        query=ProductQuerySchema, errors=(400,)),
    ("GET", "/products/{product_id}"): Operation(
        "get_product", "A product (cached)", "products", (200, ProductSchema), errors=(404,)),
    ("POST", "/products"): Operation(
        "create_product", "Add a product (admin)", "products", (201, ProductSchema),
        NewProductSchema, errors=(400, 401, 403), signed_in=True, yields=("product_id", "/id")),
    ("PATCH", "/products/{product_id}"): Operation(
        "update_product", "Change a product (admin)", "products", (200, ProductSchema),
        ProductChangesSchema, errors=(400, 401, 403, 404), signed_in=True),
    ("PATCH", "/products/{product_id}/stock"): Operation(
        "set_stock", "Add to, write off or set a product's stock (admin; audited)",
        "products", (200, ProductSchema), StockSettingSchema,
        errors=(400, 401, 403, 404, 409), signed_in=True),
    ("DELETE", "/products/{product_id}"): Operation(
        "delete_product", "Remove a product (admin; deactivated if ordered)", "products",
        (204, None), errors=(401, 403, 404), signed_in=True),
    ("POST", "/orders"): Operation(
        "place_order", "Place an order", "orders",
        (201, OrderSchema), NewOrderSchema, errors=(400, 401, 404, 409, 422),
        signed_in=True,
        yields=("order_id", "/id")),
    ("GET", "/orders"): Operation(
        "list_orders", "Own orders (an admin: all)", "orders", (200, OrderPage),
        query=OrderQuerySchema, errors=(400, 401, 403), signed_in=True),
    ("GET", "/orders/{order_id}"): Operation(
        "get_order", "An order (buyer or admin)", "orders", (200, OrderSchema), errors=(401, 404),
        signed_in=True),
    ("GET", "/orders/{order_id}/details"): Operation(
        "get_order_details", "An order with its buyer and current products", "orders",
        (200, OrderDetailsSchema), errors=(401, 404), signed_in=True),
    ("POST", "/orders/{order_id}/cancel"): Operation(
        "cancel_order", "Cancel an order", "orders", (200, OrderSchema), errors=(401, 404, 409),
        signed_in=True),
    ("POST", "/orders/{order_id}/status"): Operation(
        "set_order_status", "Move an order forward (admin)", "orders", (200, OrderSchema),
        StatusSchema, errors=(400, 401, 403, 404, 409), signed_in=True),
    ("GET", "/notifications"): Operation(
        "list_notifications", "Own notifications", "notifications", (200, NotificationPage),
        query=NotificationQuerySchema, errors=(400, 401), signed_in=True,
        yields=("notification_id", "/items/0/id")),
    ("POST", "/notifications/{notification_id}/read"): Operation(
        "mark_notification_read", "Mark a notification read", "notifications",
        (200, NotificationSchema), errors=(401, 404), signed_in=True),
    ("POST", "/notifications/read-all"): Operation(
        "mark_all_notifications_read", "Mark all notifications read", "notifications",
        (200, MarkedSchema), errors=(401,), signed_in=True),
    ("GET", "/health"): Operation(
        "health", "The gateway is up (503 while it drains before a stop)", "system",
        (200, HealthSchema), also_ok=((503, HealthSchema),)),
    ("GET", "/health/services"): Operation(
        "health_of_services", "Each service's health (503 if one is down)", "system",
        (200, ServicesHealthSchema), also_ok=((503, ServicesHealthSchema),)),
    ("GET", "/info"): Operation(
        "info", "Name, version, uptime", "system", (200, InfoSchema)),
    ("GET", "/openapi.json"): Operation(
        "openapi", "This document", "system", (200, "application/json")),
    ("GET", "/docs"): Operation(
        "docs_page", "The interactive API page", "system", (200, "text/html")),
    ("GET", "/docs/static/{name}"): Operation(
        "docs_file", "Files of the API page", "system", (200, "application/octet-stream"),
        errors=(404,)),
}

DESCRIPTIONS = {200: "OK", 201: "Created", 204: "No content", 400: "Bad request",
                401: "Not signed in, or the token is not valid", 403: "Not allowed",
                404: "Not found", 409: "Conflict, or a write under this Idempotency-Key still "
                                       "running", 422: "Idempotency key reused",
                503: "A service is unavailable"}
PATH_PARAMETER = re.compile(r"{(\w+)}")


@cache
def openapi_document() -> dict[str, Any]:
    """The document served at /openapi.json (built once per process)."""
    plugin = ContractPlugin()
    spec = APISpec(title="nameko-shop", version=shop.__version__, openapi_version="3.1.0",
                   plugins=[plugin], servers=[{"url": "/"}, {"url": "/api/v1"}, {"url": "/api"}],
                   info={"description": "The nameko-shop HTTP API. Every route is also "
                                        "served under /api/v1 and /api."})
    plugin.map_to_openapi_type(Money, fields.String)  # type: ignore[no-untyped-call]
    plugin.map_to_openapi_type(Cents, fields.String)  # type: ignore[no-untyped-call]
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.schema("Error", schema=ErrorSchema)
    for (method, path), operation in OPERATIONS.items():
        spec.path(path=path, operations={method.lower(): describe(method, path, operation)})
    document = spec.to_dict()
    for (method, path), operation in OPERATIONS.items():
        links = links_from(path, operation)
        if links:
            answer = document["paths"][path][method.lower()]["responses"][str(operation.ok[0])]
            answer["links"] = links
    return document


def links_from(path: str, operation: Operation) -> dict[str, Any]:
    """The OpenAPI links of an operation's answer: every operation whose path parameters
    its answer (the one it yields) and its own path (the others) fill."""
    if operation.yields is None:
        return {}
    yielded, pointer = operation.yields
    own = set(PATH_PARAMETER.findall(path))
    links = {}
    for (_, target_path), target in OPERATIONS.items():
        wanted = PATH_PARAMETER.findall(target_path)
        if yielded not in wanted or not set(wanted) - {yielded} <= own:
            continue
        links[target.id] = {"operationId": target.id, "parameters": {
            name: f"$response.body#{pointer}" if name == yielded else f"$request.path.{name}"
            for name in wanted}}
    return links


def describe(method: str, path: str, operation: Operation) -> dict[str, Any]:
    status, body = operation.ok
    write = method in RETRY_SAFE and (method, path) not in NOT_A_WRITE
    responses = {str(status): response(status, body)}
    if write:
        responses[str(status)]["headers"] = REPLAYED
    for other_status, other_body in operation.also_ok:
        responses[str(other_status)] = response(other_status, other_body)
    for error in sorted({*operation.errors, *((409, 422) if write else ())}):
        responses[str(error)] = response(error, "Error")
    # 413, 415, 429, 500, 504 and the rest: any route may answer them, always as an Error.
    responses["default"] = {"description": "An error",
                            "content": {"application/json": {"schema": "Error"}}}
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAMETER.findall(path)]
    if write:
        parameters.append(IDEMPOTENCY_KEY)
    if operation.query is not None:
        parameters.append({"in": "query", "schema": operation.query})
    described: dict[str, Any] = {"operationId": operation.id, "summary": operation.summary,
                                 "tags": [operation.tag], "responses": responses,
                                 "parameters": parameters}
    if operation.body is not None:
        described["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": operation.body}}}
    if operation.signed_in:
        described["security"] = [{"bearer": []}]
    return described


def response(status: int, body: type[Schema] | str | None) -> dict[str, Any]:
    described: dict[str, Any] = {"description": DESCRIPTIONS.get(status, "OK")}
    if body is None:
        return described
    if isinstance(body, str) and "/" in body:
        described["content"] = {body: {"schema": {}}}
    else:
        described["content"] = {"application/json": {"schema": body}}
    return described
