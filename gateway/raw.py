"""A request read straight from the WSGI environ: what the hit path and the rate limiter
need of it, without building a werkzeug Request."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request


class RawHeaders:
    """Request headers looked up in the environ by their CGI names."""

    __slots__ = ("environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    @staticmethod
    def key(name: str) -> str:
        return "HTTP_" + name.upper().replace("-", "_")

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.environ.get(self.key(name), default)

    def __contains__(self, name: str) -> bool:
        return self.key(name) in self.environ

    def __getitem__(self, name: str) -> str:
        return str(self.environ[self.key(name)])


class RawRequest:
    """What the hit path and the rate limiter read of a request, and no more."""

    __slots__ = ("environ", "method", "path", "headers", "remote_addr")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = environ.get("PATH_INFO") or "/"
        self.headers = RawHeaders(environ)
        self.remote_addr = environ.get("REMOTE_ADDR")


# What the rate limiter and the token reader accept: either kind of request.
AnyRequest = Request | RawRequest
