"""Checks HTTP responses against the gateway's own OpenAPI document."""

import re
from functools import cache

from jsonschema import Draft202012Validator

from gateway.access import prefix_of
from gateway.openapi import openapi_document


@cache
def _templates() -> list[tuple[re.Pattern, str]]:
    paths = openapi_document()["paths"]
    patterns = [(re.compile("^" + re.sub(r"{\w+}", "[^/]+", path) + "$"), path)
                for path in paths]
    return sorted(patterns, key=lambda pattern: pattern[1].count("{"))  # static paths first


def template_of(path: str) -> str | None:
    path = path[len(prefix_of(path)):]
    return next((template for pattern, template in _templates() if pattern.match(path)), None)


# What no JSON body may ever hold: password hashes, stack traces, internal libraries'
# names, connection URLs with their credentials.
LEAKS = re.compile(r"\$2[aby]\$\d\d\$|Traceback|File \"|sqlalchemy|psycopg|"
                   r"kombu|amqp://|redis://|postgresql://")


def check_no_leaks(method: str, path: str, response) -> None:
    if response.headers.get("Content-Type", "").startswith("application/json"):
        leak = LEAKS.search(response.text)
        assert leak is None, f"{method} {path} {response.status_code} leaks {leak.group()!r}"


def check_response(method: str, path: str, response) -> None:
    """Raises AssertionError when response breaks the document or leaks a secret."""
    check_no_leaks(method, path, response)
    if method in ("HEAD", "OPTIONS") or response.status_code in (204, 304):
        return
    document = openapi_document()
    template = template_of(path)
    operation = document["paths"].get(template, {}).get(method.lower()) if template else None
    if operation is None:  # no such route: only a JSON error may come back
        assert response.status_code in (404, 405), (method, path, response.status_code)
        schema = {"$ref": "#/components/schemas/Error"}
    else:
        declared = operation["responses"].get(str(response.status_code),
                                              operation["responses"]["default"])
        content = declared.get("content", {})
        if "application/json" not in content:
            return
        schema = content["application/json"]["schema"]
        if not schema:
            return
    assert response.headers["Content-Type"].startswith("application/json"), (method, path)
    errors = sorted(Draft202012Validator({**schema, "components": document["components"]})
                    .iter_errors(response.json()), key=str)
    assert not errors, f"{method} {path} {response.status_code}: {errors[0].message}"
