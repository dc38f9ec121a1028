"""Fixtures for tests that run the real services on the real broker, called through HTTP."""

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from gateway.service import GatewayService
from posts.service import PostsService
from users.service import UsersService


class Api:
    """A client of the gateway, with the steps most tests start from."""

    def __init__(self, session, config):
        self.http = session
        self.config = config

    def sign_up(self, name="ada", email=None, password="correct horse", prefix=""):
        body = {"name": name, "email": email or f"{name}@example.com", "password": password}
        response = self.http.post(f"{prefix}/users", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def sign_in(self, email, password="correct horse"):
        response = self.http.post("/signin", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def user_with_token(self, name="ada", role="user"):
        user = self.sign_up(name)
        if role != "user":
            with ClusterRpcProxy(self.config) as rpc:
                rpc.users.set_role(user["id"], role)
        return user, {"Authorization": f"Bearer {self.sign_in(user['email'])}"}


@pytest.fixture
def system(runner_factory, config):
    runner = runner_factory(config, GatewayService, UsersService, PostsService)
    runner.start()
    return runner


@pytest.fixture
def api(system, web_session, config):
    return Api(web_session, config)
