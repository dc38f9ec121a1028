"""Fixtures for tests that run the real services on the real broker, called through HTTP."""

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from gateway.service import GatewayService
from notifications.service import NotificationsService
from orders.service import OrdersService
from posts.service import PostsService
from products.service import ProductsService
from tests.outbox import events_delivered
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


    def post(self, auth, title="Hello", body="First words."):
        response = self.http.post("/posts", json={"title": title, "body": body}, headers=auth)
        assert response.status_code == 201, response.text
        return response.json()


SERVICES = (GatewayService, UsersService, PostsService, ProductsService, OrdersService,
            NotificationsService)


@pytest.fixture
def start_system(runner_factory, config, web_session):
    """Starts the services with config changed by overrides; returns (runner, api)."""
    def start(**overrides):
        merged = {**config, **overrides}
        runner = runner_factory(merged, *SERVICES)
        runner.start()
        return runner, Api(web_session, merged)
    return start


@pytest.fixture
def started(start_system):
    return start_system()


@pytest.fixture
def system(started):
    return started[0]


@pytest.fixture
def api(started):
    return started[1]


@pytest.fixture
def shop(api):
    """An admin with a small catalogue, and the api."""
    _, admin = api.user_with_token("root", role="admin")
    products = {}
    for name, price, category, stock in [("Desk lamp", "30.00", "home", 10),
                                         ("Mug", "8.50", "kitchen", 3),
                                         ("Floor lamp", "99.00", "home", 0)]:
        response = api.http.post("/products", headers=admin, json={
            "name": name, "price": price, "category": category, "stock": stock,
            "description": f"A {name.lower()}."})
        assert response.status_code == 201, response.text
        products[name] = response.json()
    # The products' events leave through the outbox just after each answer; the tests of
    # the listing cache start once the gateway has had them (they drop the listings).
    events_delivered(api.config, "products")
    return api, admin, products

