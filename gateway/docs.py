"""The /docs page: Swagger UI from the swagger-ui-py package, served from disk (no CDN)."""

from __future__ import annotations

import mimetypes
from importlib.resources import files
from pathlib import Path

from werkzeug.wrappers import Response

from shop.errors import NotFound

OURS = Path(__file__).parent / "docs"
SWAGGER_UI = files("swagger_ui") / "static"
# Only these may be fetched: no path from the request ever reaches the file system.
STATIC = {
    "swagger-ui.css": SWAGGER_UI / "swagger-ui.css",
    "swagger-ui-bundle.js": SWAGGER_UI / "swagger-ui-bundle.js",
    "favicon-32x32.png": SWAGGER_UI / "favicon-32x32.png",
    "start.js": OURS / "start.js",
}
# Swagger UI sets inline styles and shows data: images; everything else stays 'self'.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "frame-ancestors 'none'")
ONE_DAY = 24 * 3600


def page() -> Response:
    return Response((OURS / "index.html").read_bytes(), mimetype="text/html",
                    headers={"Content-Security-Policy": PAGE_POLICY})


def static_file(name: str) -> Response:
    if name not in STATIC:
        raise NotFound(f"No file {name[:100]!r} on the docs page.")
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(STATIC[name].read_bytes(), mimetype=mimetype,
                    headers={"Cache-Control": f"public, max-age={ONE_DAY}",
                             "Content-Security-Policy": PAGE_POLICY})
