"""The local stack tells a RabbitMQ or Redis it can reuse from anything else on the port
(the reuse of real ones: tests/integration/test_stack_reuse.py)."""

import socket
import threading

import pytest

from devstack import servers as stack


@pytest.fixture
def impostor_port():
    """A TCP server that answers everything like a web server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def settings(tmp_path, **ports):
    env = {"RUN_DIR": str(tmp_path), **{k: str(v) for k, v in ports.items()}}
    return stack.Settings.from_env(env)


def test_a_port_taken_by_something_else_stops_with_a_clear_message(tmp_path, impostor_port):
    assert not stack.is_redis(impostor_port) and not stack.is_rabbitmq(impostor_port)
    with pytest.raises(stack.StackError, match="REDIS_PORT"):
        stack.Stack(settings(tmp_path, REDIS_PORT=impostor_port)).ensure_redis()
    with pytest.raises(stack.StackError, match="AMQP_PORT"):
        stack.Stack(settings(tmp_path, AMQP_PORT=impostor_port)).ensure_rabbitmq(False)
