"""/docs renders every route in a real browser, with nothing fetched from outside."""

import re
import shutil
import subprocess

import pytest

from gateway.openapi import OPERATIONS
from gateway.service import GatewayService

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or ""


@pytest.fixture
def gateway(container_factory, config, web_config_port):
    container_factory(GatewayService, config).start()
    return f"http://127.0.0.1:{web_config_port}"


@pytest.mark.skipif(not CHROMIUM, reason="chromium is installed by `make test`")
def test_the_docs_page_renders_every_route_offline(gateway, tmp_path):
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000",
         "--dump-dom", f"{gateway}/docs"],
        capture_output=True, text=True, timeout=120).stdout
    shown = set(re.findall(r'data-path="([^"]+)"', dom))
    assert shown == {path for _, path in OPERATIONS}, sorted(shown)
    assert "nameko-shop" in dom


def test_the_docs_files_are_served_and_nothing_else(api):
    page = api.http.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    policy = dict(directive.strip().split(" ", 1)
                  for directive in page.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'" and "script-src" not in policy  # no inline script
    script = api.http.get("/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    for name in ("..%2Fservice.py", "index.html", "swagger-editor.js"):
        assert api.http.get(f"/docs/static/{name}").status_code == 404
