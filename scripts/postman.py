"""The Postman collection (v2.1) of the HTTP API, made from its OpenAPI document.

    python -m scripts.postman > clients/nameko-shop.postman_collection.json

One request per step of FLOW, in order: a shopper signs up and signs in (the token goes
into a collection variable), an admin signs in, and every operation of /openapi.json is
called, each with tests of its status and of the keys its documented body requires.
tests/integration/test_postman.py runs it with newman against the live stack and fails
on drift: an operation missing from FLOW, a status the document does not list, or a
committed file that differs from what this makes.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from gateway.openapi import openapi_document

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
JSON = {"key": "Content-Type", "value": "application/json"}
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


@dataclass(frozen=True)
class Step:
    operation: str  # the operationId in /openapi.json
    status: int
    name: str = ""
    as_user: str | None = None  # "token" or "adminToken": the variable holding the bearer
    body: dict[str, Any] | None = None
    path: dict[str, str] = field(default_factory=dict)  # parameter -> its value ("{{var}}")
    query: dict[str, str] = field(default_factory=dict)
    keep: dict[str, str] = field(default_factory=dict)  # variable -> JS expression on `body`
    before: tuple[str, ...] = ()  # a pre-request script


FLOW = (
    Step("health", 200),
    Step("health_of_services", 200),
    Step("info", 200),
    Step("openapi", 200),
    Step("docs_page", 200),
    Step("docs_file", 200, path={"name": "start.js"}),
    Step("create_user", 201, "Sign up a shopper", body={
        "name": "Postman shopper", "email": "{{email}}", "password": "{{password}}"},
        keep={"userId": "body.id"}, before=(
            'pm.collectionVariables.set("email", "postman-" + Date.now() + "-"'
            ' + Math.floor(Math.random() * 1e6) + "@example.com");',
            'pm.collectionVariables.set("password", "correct horse " + Date.now());')),
    Step("sign_in", 200, "Sign in the shopper", body={
        "email": "{{email}}", "password": "{{password}}"}, keep={"token": "body.token"}),
    Step("sign_in", 200, "Sign in the admin (adminEmail, adminPassword: make admin EMAIL=...)",
         body={"email": "{{adminEmail}}", "password": "{{adminPassword}}"},
         keep={"adminToken": "body.token"}),
    Step("get_me", 200, as_user="token"),
    Step("update_me", 200, as_user="token", body={"name": "Postman shopper, renamed"}),
    Step("list_users", 200, query={"limit": "5"}),
    Step("get_user", 200, path={"user_id": "{{userId}}"}),
    Step("create_product", 201, as_user="adminToken", body={
        "name": "Postman lamp", "price": "25.00", "category": "home", "stock": 10,
        "description": "A lamp made by the Postman collection."},
        keep={"productId": "body.id"}),
    Step("list_products", 200, query={"category": "home", "sort": "price"}),
    Step("get_product", 200, path={"product_id": "{{productId}}"}),
    Step("update_product", 200, as_user="adminToken", path={"product_id": "{{productId}}"},
         body={"price": "27.50"}),
    Step("set_stock", 200, as_user="adminToken", path={"product_id": "{{productId}}"},
         body={"delta": 5}),
    Step("create_post", 201, as_user="token", body={
        "title": "Hello from Postman", "body": "Posted by the collection."},
        keep={"postId": "body.id"}),
    Step("list_posts", 200),
    Step("get_post", 200, path={"post_id": "{{postId}}"}),
    Step("update_post", 200, as_user="token", path={"post_id": "{{postId}}"},
         body={"title": "Hello again from Postman"}),
    Step("add_comment", 201, as_user="token", path={"post_id": "{{postId}}"},
         body={"body": "A comment from Postman."}, keep={"commentId": "body.id"}),
    Step("list_comments", 200, path={"post_id": "{{postId}}"}),
    Step("delete_comment", 204, as_user="token",
         path={"post_id": "{{postId}}", "comment_id": "{{commentId}}"}),
    Step("place_order", 201, as_user="token", body={
        "items": [{"product_id": "{{productId}}", "quantity": 2}],
        "shipping_address": ADDRESS}, keep={"orderId": "body.id"}),
    Step("list_orders", 200, as_user="token"),
    Step("get_order", 200, as_user="token", path={"order_id": "{{orderId}}"}),
    Step("get_order_details", 200, as_user="token", path={"order_id": "{{orderId}}"}),
    Step("set_order_status", 200, as_user="adminToken", path={"order_id": "{{orderId}}"},
         body={"status": "paid"}),
    Step("cancel_order", 200, as_user="token", path={"order_id": "{{orderId}}"}),
    Step("list_notifications", 200, as_user="token",
         keep={"notificationId": "body.items[0].id"}),
    Step("mark_notification_read", 200, as_user="token",
         path={"notification_id": "{{notificationId}}"}),
    Step("mark_all_notifications_read", 200, as_user="token"),
    Step("delete_post", 204, as_user="token", path={"post_id": "{{postId}}"}),
    Step("delete_product", 204, as_user="adminToken", path={"product_id": "{{productId}}"}),
    Step("create_user", 201, "Sign up an account for the admin to remove", body={
        "name": "Postman leaver", "email": "leaver-{{email}}", "password": "{{password}}"},
        keep={"leaverId": "body.id"}),
    Step("update_user", 200, as_user="adminToken", path={"user_id": "{{leaverId}}"},
         body={"name": "Postman leaver, renamed by an admin"}),
    Step("delete_user", 204, as_user="adminToken", path={"user_id": "{{leaverId}}"}),
    Step("delete_me", 204, as_user="token"),
)


def operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (method, path template, operation)."""
    return {operation["operationId"]: (method.upper(), path, operation)
            for path, methods in document["paths"].items()
            for method, operation in methods.items() if isinstance(operation, dict)
            and "operationId" in operation}


def required_keys(document: dict[str, Any], operation: dict[str, Any], status: int) -> list[str]:
    """The keys the document says a JSON body of that status always has."""
    content = operation["responses"][str(status)].get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    keys: list[str] = schema.get("required", [])
    return keys


def tests_of(step: Step, method: str, path: str, keys: list[str]) -> list[str]:
    lines = [f'pm.test("{method} {path} answers {step.status}", function () {{',
             f"    pm.response.to.have.status({step.status});", "});"]
    if keys:
        quoted = ", ".join(json.dumps(key) for key in keys)
        lines += ['pm.test("the body has what the document requires", function () {',
                  f"    pm.expect(pm.response.json()).to.include.all.keys({quoted});", "});"]
    if step.keep:
        lines.append("const body = pm.response.json();")
        lines += [f'pm.collectionVariables.set("{name}", {expression});'
                  for name, expression in step.keep.items()]
    return lines


def item(document: dict[str, Any], step: Step) -> dict[str, Any]:
    method, template, operation = operations(document)[step.operation]
    documented = set(operation["responses"])
    if str(step.status) not in documented:
        raise ValueError(f"{step.operation}: {step.status} is not one of {sorted(documented)}")
    path = re.sub(r"\{(\w+)\}", lambda match: step.path[match.group(1)], template)
    query = [{"key": key, "value": value} for key, value in step.query.items()]
    raw = "{{baseUrl}}" + path + ("?" + "&".join(f"{q['key']}={q['value']}" for q in query)
                                  if query else "")
    request: dict[str, Any] = {
        "method": method, "header": [],
        "url": {"raw": raw, "host": ["{{baseUrl}}"], "path": path.strip("/").split("/"),
                **({"query": query} if query else {})},
        "description": operation.get("summary", ""),
    }
    if step.as_user:
        request["auth"] = {"type": "bearer", "bearer": [
            {"key": "token", "value": "{{" + step.as_user + "}}", "type": "string"}]}
    if step.body is not None:
        request["header"].append(JSON)
        request["body"] = {"mode": "raw", "raw": json.dumps(step.body, indent=2),
                           "options": {"raw": {"language": "json"}}}
    events = [{"listen": "test", "script": {"type": "text/javascript", "exec": tests_of(
        step, method, template, required_keys(document, operation, step.status))}}]
    if step.before:
        events.insert(0, {"listen": "prerequest",
                          "script": {"type": "text/javascript", "exec": list(step.before)}})
    return {"name": step.name or f"{method} {template}", "event": events, "request": request}


def collection(document: dict[str, Any]) -> dict[str, Any]:
    missing = set(operations(document)) - {step.operation for step in FLOW}
    if missing:
        raise ValueError(f"operations the flow does not call: {sorted(missing)}")
    variables = {"baseUrl": "http://127.0.0.1:8000", "adminEmail": "", "adminPassword": ""}
    return {
        "info": {
            "name": "nameko-shop",
            "description": "Every operation of the nameko-shop API, in a flow that signs up "
                           "and signs in first. Set baseUrl, and adminEmail and adminPassword "
                           "to an account made admin with `make admin EMAIL=...`. Made by "
                           "`python -m scripts.postman` from /openapi.json.",
            "schema": SCHEMA,
        },
        "variable": [{"key": key, "value": value} for key, value in variables.items()],
        "item": [item(document, step) for step in FLOW],
    }


def main() -> None:
    json.dump(collection(openapi_document()), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
