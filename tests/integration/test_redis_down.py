"""Without Redis the gateway still answers: public routes work, token checks fail closed."""

import time

import pytest
from nameko.testing.utils import find_free_port

from gateway.service import GatewayService
from tests.integration.conftest import Api
from users.service import UsersService


@pytest.fixture
def api_without_redis(runner_factory, config, web_session):
    config = {**config, "REDIS_URIS": {"default": f"redis://127.0.0.1:{find_free_port()}/0"}}
    runner_factory(config, GatewayService, UsersService).start()
    return Api(web_session, config)


def test_public_routes_work_and_protected_ones_are_503_not_500(api_without_redis):
    api = api_without_redis
    user = api.sign_up()
    token = api.sign_in(user["email"])
    assert api.http.get(f"/users/{user['id']}").status_code == 200

    started = time.monotonic()
    response = api.http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert time.monotonic() - started < 2
