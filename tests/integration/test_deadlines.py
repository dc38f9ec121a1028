"""Every RPC from the gateway has a deadline: a missing or stopped service is a quick 503/504."""

import time

import eventlet
import pytest
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook
from nameko.testing.utils import get_container

from gateway.service import GatewayService
from shop.amqp import BrokerLink
from shop.entrypoints import rpc as shop_rpc
from shop.errors import ServiceTimeout, ServiceUnavailable
from shop.rpc import DeadlineRpc, RpcClient
from users.service import UsersService


@pytest.fixture
def gateway_only(runner_factory, config, web_session):
    runner = runner_factory(config, GatewayService)
    runner.start()
    return web_session


def test_a_service_that_never_ran_is_503_at_once(gateway_only):
    started = time.monotonic()
    response = gateway_only.post("/signin", json={"email": "a@b.c", "password": "12345678"})
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert time.monotonic() - started < 1


def test_health_of_services_is_503_when_one_is_down(gateway_only):
    response = gateway_only.get("/health/services")
    assert response.status_code == 503
    assert response.json()["services"]["users"]["status"] == "down"


def test_a_stopped_service_is_504_within_the_deadline_and_others_still_answer(
        runner_factory, config, web_session):
    runner = runner_factory(config, GatewayService, UsersService)
    runner.start()
    get_container(runner, UsersService).stop()  # its queue stays; no one consumes it

    started = time.monotonic()
    pending = eventlet.spawn(web_session.get, "/users")
    eventlet.sleep(0.2)
    assert web_session.get("/health").status_code == 200  # the gateway is not stuck
    response = pending.wait()
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.json()["code"] == "SERVICE_TIMEOUT"
    assert config["RPC_TIMEOUT_SECONDS"] <= elapsed < config["RPC_TIMEOUT_SECONDS"] + 1.5


class SlowService:
    name = "slow"

    @rpc
    def echo(self, value, delay):
        eventlet.sleep(delay)
        return value


class CallerService:
    name = "caller"
    remote = DeadlineRpc(timeout=0.3)

    @rpc
    def call(self, value, delay):
        return self.remote.slow.echo(value, delay)


def test_a_late_reply_is_never_taken_for_another_calls(container_factory, config):
    container_factory(SlowService, config).start()
    caller = container_factory(CallerService, config)
    caller.start()
    with entrypoint_hook(caller, "call") as call:
        with pytest.raises(ServiceTimeout):
            call("late", 0.6)
        eventlet.sleep(0.5)  # the late reply to "late" arrives meanwhile
        assert call("second", 0) == "second"
    assert caller.extensions  # container still healthy
    client = next(ext for ext in caller.subextensions if isinstance(ext, RpcClient))
    assert client.pending == {}  # nothing left waiting for ever


class EchoService:
    name = "echo"

    @shop_rpc
    def echo(self, value):
        return value


class MixedCaller:
    name = "mixed_caller"
    remote = DeadlineRpc(timeout=5)

    @rpc
    def storm(self, rounds):
        """Per round, 40 calls answered by unconfirmed replies and 15 to an absent
        service, all at once; returns the echoes and how each absent call ended."""
        pool = eventlet.GreenPool(60)
        echoes, outcomes = [], []
        for _ in range(rounds):
            answered = [pool.spawn(self.remote.echo.echo, n) for n in range(40)]
            absent = [pool.spawn(self._call_absent) for _ in range(15)]
            echoes.append([reply.wait() for reply in answered])
            outcomes += [reply.wait() for reply in absent]
        return echoes, outcomes

    def _call_absent(self):
        try:
            self.remote.absent.anything()
        except ServiceUnavailable:
            return "unavailable"
        except ServiceTimeout:
            return "timeout"
        return "answered"


def test_an_absent_service_is_unavailable_at_once_amid_unconfirmed_replies(
        container_factory, config):
    """Replies go out unconfirmed and requests confirmed, from one process and at once:
    no request may end up on a channel without confirms, where an unroutable call would
    wait out its deadline (ServiceTimeout) instead of failing at once."""
    container_factory(EchoService, config).start()
    caller = container_factory(MixedCaller, config)
    caller.start()
    with entrypoint_hook(caller, "storm") as storm:
        echoes, outcomes = storm(20)
    assert echoes == [list(range(40))] * 20
    assert set(outcomes) == {"unavailable"}


class PatientCaller(CallerService):
    name = "patient_caller"
    remote = DeadlineRpc(timeout=10)


def connection_on_port(rabbit_manager, port: int) -> str:
    """The name the broker gives the connection from our port (listed after a moment)."""
    for _ in range(50):
        names = [c["name"] for c in rabbit_manager.get_connections() if c["peer_port"] == port]
        if names:
            return names[0]
        eventlet.sleep(0.2)
    raise AssertionError(f"no connection from port {port}")


def test_a_lost_broker_connection_fails_waiting_calls_at_once_and_calls_resume(
        container_factory, config, rabbit_manager):
    container_factory(SlowService, config).start()
    caller = container_factory(PatientCaller, config)
    caller.start()
    link = next(ext for ext in caller.subextensions if isinstance(ext, BrokerLink))
    assert link._connection is not None
    port = link._connection.sock.getsockname()[1]
    with entrypoint_hook(caller, "call") as call:
        connection = connection_on_port(rabbit_manager, port)
        waiting = eventlet.spawn(call, "waiting", 5)
        eventlet.sleep(0.3)
        started = time.monotonic()
        rabbit_manager.delete_connection(connection)
        with pytest.raises(ServiceUnavailable):
            waiting.wait()
        # At once: not after the 5 s the answer takes, nor the 10 s deadline.
        assert time.monotonic() - started < 3
        assert link.wait_ready(10)  # reconnected, with a new reply queue
        assert call("again", 0) == "again"
