"""Fixtures shared by the suite: a config for real RabbitMQ, Redis and SQLite, and clients.

`make test` starts RabbitMQ and Redis and passes their addresses; nameko's pytest plugin
gives every test its own RabbitMQ vhost, and each test gets fresh databases.
"""

import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import os  # noqa: E402
from urllib.parse import urlparse, urlunparse  # noqa: E402

import pytest  # noqa: E402
import redis  # noqa: E402

from tests.config_yml import config_yml  # noqa: E402
from tests.databases import ScratchDatabases  # noqa: E402

TEST_JWT_SECRET = "k3Jq9vX2mT7pL0sW4nB8cR6yH1dF5gZ-for-the-tests-only"
TEST_REDIS_DB = 15


def redis_uri_for_tests() -> str:
    """The stack's Redis, on a database of its own that the tests may flush."""
    base = urlparse(os.environ.get("REDIS_URI", "redis://127.0.0.1:6379/0"))
    return urlunparse(base._replace(path=f"/{TEST_REDIS_DB}"))


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(redis_uri_for_tests(), decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def db_uris(tmp_path):
    """This test's databases: PostgreSQL schemas under `make test`, else SQLite files."""
    with ScratchDatabases.on_test_server(tmp_path) as uris:
        yield uris


# The databases must outlive the services using them: asking for db_uris first makes
# pytest set them up before nameko's factories and tear them down after.
@pytest.fixture
def runner_factory(db_uris, runner_factory):
    return runner_factory


@pytest.fixture
def container_factory(db_uris, container_factory):
    return container_factory


@pytest.fixture
def web_session(web_config_port):
    """nameko's web_session, checking every response against /openapi.json."""
    from urllib.parse import urlparse

    from requests import Session

    from tests.openapi_check import check_response

    class CheckedSession(Session):
        def request(self, method, url, *args, **kwargs):
            response = super().request(method, f"http://127.0.0.1:{web_config_port}{url}",
                                       *args, **kwargs)
            check_response(method.upper(), urlparse(response.url).path, response)
            return response

    with CheckedSession() as session:
        yield session


@pytest.fixture
def config(rabbit_config, web_config, db_uris, redis_client, tmp_path):
    """One test's nameko config: config.yml's (its defaults are the only ones), pointed at
    this test's resources, with what the suite needs quicker or looser."""
    return {
        **config_yml(),
        **rabbit_config,
        **web_config,
        "max_workers": 20,
        "DB_URIS": db_uris,
        "REDIS_URIS": {"default": redis_uri_for_tests()},
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": 4,  # the minimum: the suite tests behaviour, not hashing cost
        "RPC_TIMEOUT_SECONDS": 2,
        "MAX_BODY_BYTES": 64 * 1024,
        # Generous: only the rate-limit tests run into the limits.
        "RATE_LIMIT_MAX": 10_000,
        "SIGNIN_RATE_LIMIT_MAX": 1_000,
        "LIVENESS_DIR": str(tmp_path / "live"),
    }
