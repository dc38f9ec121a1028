"""The OpenAPI 3.1 document of every route, built from the services' schemas in contracts/.

Each route has one entry in OPERATIONS; a test holds the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

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
)
from contracts.users import CredentialsSchema, NewUserSchema, UserChangesSchema, UserSchema
from shop.money import Money
from shop.schemas import PageSchema


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
    status = fields.String(required=True)


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


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    ok: tuple[int, type[Schema] | str | None] = (200, None)
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    errors: tuple[int, ...] = ()
    also_ok: tuple[tuple[int, type[Schema]], ...] = ()  # other answers with a body of their own
    signed_in: bool = False
    headers: dict[str, Any] = field(default_factory=dict)


IDEMPOTENCY_KEY = {"Idempotency-Key": "Replays the first order placed with this key."}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/signin"): Operation("Sign in with email and password", "users",
                                   (200, SignInResultSchema), CredentialsSchema,
                                   errors=(400, 401)),
    ("POST", "/users"): Operation("Sign up", "users", (201, UserSchema), NewUserSchema,
                                  errors=(400, 409)),
    ("GET", "/users"): Operation("List users (public profiles)", "users", (200, UserPage),
                                 query=UsersQuerySchema, errors=(400,)),
    ("GET", "/users/me"): Operation("The signed-in user", "users", (200, UserSchema),
                                    errors=(401,), signed_in=True),
    ("GET", "/users/{user_id}"): Operation("A user (email for self or admin; cached)", "users",
                                           (200, UserSchema), errors=(401, 404)),
    ("PATCH", "/users/{user_id}"): Operation("Change a user (self or admin)", "users",
                                             (200, UserSchema), UserChangesSchema,
                                             errors=(400, 401, 403, 404, 409), signed_in=True),
    ("DELETE", "/users/{user_id}"): Operation("Delete a user (self or admin)", "users",
                                              (204, None), errors=(401, 403, 404), signed_in=True),
    ("POST", "/posts"): Operation("Write a post", "posts", (201, PostSchema), NewPostSchema,
                                  errors=(400, 401), signed_in=True),
    ("GET", "/posts"): Operation("List posts, newest first", "posts", (200, PostPage),
                                 query=PostListSchema, errors=(400,)),
    ("GET", "/posts/{post_id}"): Operation("A post (cached)", "posts", (200, PostSchema),
                                           errors=(404,)),
    ("PATCH", "/posts/{post_id}"): Operation("Change a post (author or admin)", "posts",
                                             (200, PostSchema), PostChangesSchema,
                                             errors=(400, 401, 403, 404), signed_in=True),
    ("DELETE", "/posts/{post_id}"): Operation("Delete a post and its comments", "posts",
                                              (204, None), errors=(401, 403, 404), signed_in=True),
    ("POST", "/posts/{post_id}/comments"): Operation(
        "Comment on a post", "posts", (201, CommentSchema), NewCommentSchema,
        errors=(400, 401, 404), signed_in=True),
    ("GET", "/posts/{post_id}/comments"): Operation(
        "A post's comments, oldest first", "posts", (200, CommentPage), query=PageSchema,
        errors=(400, 404)),
    ("DELETE", "/posts/{post_id}/comments/{comment_id}"): Operation(
        "Delete a comment (its author, the post's author, admin)", "posts", (204, None),
        errors=(401, 403, 404), signed_in=True),
    ("GET", "/products"): Operation("Browse products (cached)", "products", (200, ProductPage),
                                    query=ProductQuerySchema, errors=(400,)),
    ("GET", "/products/{product_id}"): Operation("A product (cached)", "products",
                                                 (200, ProductSchema), errors=(404,)),
    ("POST", "/products"): Operation("Add a product (admin)", "products", (201, ProductSchema),
                                     NewProductSchema, errors=(400, 401, 403), signed_in=True),
    ("PATCH", "/products/{product_id}"): Operation(
        "Change a product (admin)", "products", (200, ProductSchema), ProductChangesSchema,
        errors=(400, 401, 403, 404), signed_in=True),
    ("DELETE", "/products/{product_id}"): Operation(
        "Remove a product (admin; deactivated if ordered)", "products", (204, None),
        errors=(401, 403, 404), signed_in=True),
    ("POST", "/orders"): Operation(
        "Place an order (200 for a replayed Idempotency-Key)", "orders", (201, OrderSchema),
        NewOrderSchema, errors=(400, 401, 404, 409, 422), also_ok=((200, OrderSchema),),
        headers=IDEMPOTENCY_KEY, signed_in=True),
    ("GET", "/orders"): Operation("Own orders (an admin: all)", "orders", (200, OrderPage),
                                  query=OrderQuerySchema, errors=(400, 401, 403), signed_in=True),
    ("GET", "/orders/{order_id}"): Operation("An order (buyer or admin)", "orders",
                                             (200, OrderSchema), errors=(401, 404), signed_in=True),
    ("GET", "/orders/{order_id}/details"): Operation(
        "An order with its buyer and current products", "orders", (200, OrderDetailsSchema),
        errors=(401, 404), signed_in=True),
    ("POST", "/orders/{order_id}/cancel"): Operation(
        "Cancel an order", "orders", (200, OrderSchema), errors=(401, 404, 409), signed_in=True),
    ("POST", "/orders/{order_id}/status"): Operation(
        "Move an order forward (admin)", "orders", (200, OrderSchema), StatusSchema,
        errors=(400, 401, 403, 404, 409), signed_in=True),
    ("GET", "/notifications"): Operation("Own notifications", "notifications",
                                         (200, NotificationPage), query=NotificationQuerySchema,
                                         errors=(400, 401), signed_in=True),
    ("POST", "/notifications/{notification_id}/read"): Operation(
        "Mark a notification read", "notifications", (200, NotificationSchema),
        errors=(401, 404), signed_in=True),
    ("POST", "/notifications/read-all"): Operation(
        "Mark all notifications read", "notifications", (200, MarkedSchema), errors=(401,),
        signed_in=True),
    ("GET", "/health"): Operation("The gateway is up", "system", (200, HealthSchema)),
    ("GET", "/health/services"): Operation("Each service's health (503 if one is down)",
                                           "system", (200, ServicesHealthSchema),
                                           also_ok=((503, ServicesHealthSchema),)),
    ("GET", "/info"): Operation("Name, version, uptime", "system", (200, InfoSchema)),
    ("GET", "/metrics"): Operation("Prometheus metrics", "system", (200, "text/plain")),
    ("GET", "/openapi.json"): Operation("This document", "system", (200, "application/json")),
    ("GET", "/docs"): Operation("The interactive API page", "system", (200, "text/html")),
    ("GET", "/docs/static/{name}"): Operation("Files of the API page", "system",
                                              (200, "application/octet-stream"), errors=(404,)),
}

DESCRIPTIONS = {200: "OK", 201: "Created", 204: "No content", 400: "Bad request",
                401: "Not signed in, or the token is not valid", 403: "Not allowed",
                404: "Not found", 409: "Conflict", 422: "Idempotency key reused",
                503: "A service is unavailable"}
PATH_PARAMETER = re.compile(r"{(\w+)}")


@cache
def openapi_document() -> dict[str, Any]:
    """The document served at /openapi.json (built once per process)."""
    plugin = MarshmallowPlugin()
    spec = APISpec(title="nameko-shop", version=shop.__version__, openapi_version="3.1.0",
                   plugins=[plugin], servers=[{"url": "/"}, {"url": "/api/v1"}],
                   info={"description": "The nameko-shop HTTP API. Every route is also "
                                        "served under /api/v1."})
    plugin.map_to_openapi_type(Money, fields.String)  # type: ignore[no-untyped-call]
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.schema("Error", schema=ErrorSchema)
    for (method, path), operation in OPERATIONS.items():
        spec.path(path=path, operations={method.lower(): describe(path, operation)})
    return spec.to_dict()


def describe(path: str, operation: Operation) -> dict[str, Any]:
    status, body = operation.ok
    responses = {str(status): response(status, body)}
    for other_status, other_body in operation.also_ok:
        responses[str(other_status)] = response(other_status, other_body)
    for error in operation.errors:
        responses[str(error)] = response(error, "Error")
    # 413, 415, 429, 500, 504 and the rest: any route may answer them, always as an Error.
    responses["default"] = {"description": "An error",
                            "content": {"application/json": {"schema": "Error"}}}
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAMETER.findall(path)]
    parameters += [{"in": "header", "name": name, "required": False, "description": text,
                    "schema": {"type": "string"}} for name, text in operation.headers.items()]
    if operation.query is not None:
        parameters.append({"in": "query", "schema": operation.query})
    described: dict[str, Any] = {"summary": operation.summary, "tags": [operation.tag],
                                 "responses": responses, "parameters": parameters}
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
