"""The cluster wiring, checked on one node: quorum queues, a node list in AMQP_URI and
the heartbeat every connection carries (`make cluster-test` kills real nodes)."""

import time

import eventlet
import pytest
from kombu.connection import Connection
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import find_free_port

from orders.service import OrdersService
from shop.queues import QueueTypeMismatch

SERVICES_WITH_QUEUES = ("users", "posts", "products", "orders", "notifications")


def queues_of(rabbit_manager, vhost):
    return {queue["name"]: queue for queue in rabbit_manager.get_queues(vhost)}


def test_every_queue_that_outlives_a_connection_is_a_quorum_queue(
        started, rabbit_manager, rabbit_config):
    queues = queues_of(rabbit_manager, rabbit_config["vhost"])
    lasting = {name: queue for name, queue in queues.items()
               if not (queue["exclusive"] or queue["auto_delete"])}
    for service in SERVICES_WITH_QUEUES:
        assert f"rpc-{service}" in lasting
    for service in ("notifications", "posts", "gateway"):  # those with event handlers
        assert f"{service}.dead-letters" in lasting
        assert f"{service}.retry-60s" in lasting
    assert any(name.startswith("evt-users-user_created--") for name in lasting)
    assert {name: queue["type"] for name, queue in lasting.items()
            if queue["type"] != "quorum"} == {}
    delay = lasting["notifications.retry-5s"]["arguments"]
    assert delay["x-dead-letter-strategy"] == "at-least-once"
    assert delay["x-message-ttl"] == 5000

    # Bound to one connection, and gone with it: reply queues, the gateway's broadcasts.
    passing = [name for name in queues if name not in lasting]
    assert any(name.startswith("rpc.reply-gateway-") for name in passing)
    assert {queues[name]["type"] for name in passing} == {"classic"}
    assert any(name.startswith("evt-users-user_deleted--gateway.") for name in passing)


def test_classic_queues_for_a_deployment_not_yet_moved(
        start_system, rabbit_manager, rabbit_config):
    start_system(QUEUE_TYPE="classic")
    queues = queues_of(rabbit_manager, rabbit_config["vhost"])
    assert queues["rpc-orders"]["type"] == "classic"
    assert "x-queue-type" not in queues["rpc-orders"]["arguments"]


def test_a_queue_of_the_other_type_stops_the_service_at_start_naming_the_way_out(
        runner_factory, config, rabbit_config):
    with Connection(rabbit_config["AMQP_URI"]) as broker:  # as an older release left it
        broker.default_channel.queue_declare("rpc-orders", durable=True, auto_delete=False)
    runner = runner_factory(config, OrdersService)
    with pytest.raises(QueueTypeMismatch, match="QUEUE_TYPE=classic"), eventlet.Timeout(30):
        runner.start()
        runner.wait()  # the container stops with the error


@pytest.fixture
def two_nodes_first_one_down(rabbit_config):
    """AMQP_URI naming a node that refuses connections before the real one."""
    dead = f"pyamqp://guest:guest@127.0.0.1:{find_free_port()}/{rabbit_config['vhost']}"
    return f"{dead};{rabbit_config['AMQP_URI']}"


def test_every_connection_moves_past_a_node_that_is_down_and_carries_the_heartbeat(
        start_system, two_nodes_first_one_down, rabbit_manager, rabbit_config):
    _, api = start_system(AMQP_URI=two_nodes_first_one_down, HEARTBEAT=7)
    user, auth = api.user_with_token("ada")
    assert api.http.get("/users/me", headers=auth).json()["id"] == user["id"]
    api.post(auth)  # a write whose event goes out on the service's own connection

    # Each service's consumer and broker link, and the gateway's dead-letter watch; the
    # management API lists a connection some seconds after it opens.
    connections = []
    for _ in range(60):
        connections = [connection for connection in rabbit_manager.get_connections()
                       if connection["vhost"] == rabbit_config["vhost"]]
        if len(connections) >= 2 * 6 + 1:
            break
        time.sleep(0.5)
    assert len(connections) == 2 * 6 + 1
    assert {connection["timeout"] for connection in connections} == {7}

    # What nameko shell uses, given the same list (nameko's own client: no heartbeat).
    with ClusterRpcProxy(api.config) as rpc:
        assert rpc.users.get_user(user["id"])["name"] == "ada"
