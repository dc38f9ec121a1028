"""The gateway's connections under attack, fast: slow heads, stalled bodies, idle
kept-alive connections, too many connections, malformed heads. Each attack is made on raw
sockets against a real gateway (its services stood in for) while a legitimate client
keeps being answered. The long versions run in `make chaos` (tests/system/test_edge_attacks.py).
"""

import json
import socket
import time
from contextlib import ExitStack

import pytest

from tests.integration.test_gateway_alone import gateway  # noqa: F401 (a fixture)

SECURITY_HEADER = "x-content-type-options: nosniff"


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


def read_until_closed(sock: socket.socket, seconds: float = 5.0) -> bytes:
    """Everything the gateway sends until it closes the connection (or seconds pass)."""
    sock.settimeout(seconds)
    received = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def parse(answer: bytes) -> tuple[int, str, dict]:
    """(status, the head in lower case, the JSON body) of one whole answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1").lower(), json.loads(body) if body else {}


@pytest.fixture
def port(web_config_port):
    return web_config_port


def test_stalled_bodies_hold_no_worker_and_are_answered_408(gateway, port,  # noqa: F811
                                                            web_session):
    """More stalled POSTs than the gateway has workers: /health is still answered, and
    each staller gets 408 once its body time is up."""
    gateway(max_workers=4, HTTP_BODY_TIMEOUT_SECONDS=1)
    with ExitStack() as stack:
        stalled = []
        for _ in range(12):
            sock = stack.enter_context(connect(port))
            sock.sendall(b"POST /posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 400\r\n\r\n{\"title\":")
            stalled.append(sock)
        time.sleep(0.2)
        assert web_session.get("/health", timeout=3).status_code == 200
        for sock in stalled:
            status, head, body = parse(read_until_closed(sock))
            assert status == 408 and body["code"] == "REQUEST_TIMEOUT"
            assert "connection: close" in head and SECURITY_HEADER in head


def test_a_body_that_stops_short_is_refused_not_passed_on(gateway, port):  # noqa: F811
    gateway()
    with connect(port) as sock:
        sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{\"email\":")
        sock.shutdown(socket.SHUT_WR)  # the client is done sending, 90 bytes short
        status, _, body = parse(read_until_closed(sock))
    assert status == 400 and body["code"] == "INCOMPLETE_BODY"


def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_408(gateway, port):  # noqa: F811
    gateway(HTTP_HEADER_TIMEOUT_SECONDS=0.5)
    with connect(port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        started = time.monotonic()
        try:
            for byte in b"X-Slow: " + b"a" * 40:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass  # cut off while still trickling
        answer = read_until_closed(sock)
        assert time.monotonic() - started < 4.5
    status, head, body = parse(answer)
    assert status == 408 and body["code"] == "REQUEST_TIMEOUT" and SECURITY_HEADER in head


def test_an_idle_connection_is_closed_before_and_between_requests(gateway, port):  # noqa: F811
    gateway(HTTP_IDLE_SECONDS=0.5)
    with connect(port) as silent:
        assert read_until_closed(silent, 3) == b""  # closed, without a word
    with connect(port) as kept:
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(kept, 3)  # answered, then closed once idle
    assert answer.startswith(b"HTTP/1.1 200")


def test_connections_past_the_caps_are_refused_at_once(gateway, port):  # noqa: F811
    gateway(HTTP_MAX_CONNECTIONS_PER_CLIENT=3, HTTP_MAX_CONNECTIONS=5)
    with ExitStack() as stack:
        held = [stack.enter_context(connect(port)) for _ in range(3)]
        time.sleep(0.2)
        with connect(port) as fourth:
            status, head, body = parse(read_until_closed(fourth, 2))
        assert status == 429 and body["code"] == "TOO_MANY_CONNECTIONS"
        assert "retry-after: 1" in head and SECURITY_HEADER in head
        held.pop().close()  # one ends: another may come
        time.sleep(0.2)
        with connect(port) as again:
            again.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_until_closed(again).startswith(b"HTTP/1.1 200")


def test_the_total_cap_answers_503(gateway, port):  # noqa: F811
    gateway(HTTP_MAX_CONNECTIONS_PER_CLIENT=10, HTTP_MAX_CONNECTIONS=2)
    with connect(port), connect(port):
        time.sleep(0.2)
        with connect(port) as third:
            status, _, body = parse(read_until_closed(third, 2))
    assert status == 503 and body["code"] == "SERVICE_UNAVAILABLE"


@pytest.mark.parametrize("request_bytes, status, code", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "URI_TOO_LONG"),
    (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "HEADER_TOO_LARGE"),
    (b"POST /signin HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400, "BAD_REQUEST"),
    (b"GET /health HTTP/9.9\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
    (b"NONSENSE\r\n\r\n", 400, "BAD_REQUEST"),
])
def test_a_malformed_head_gets_a_json_error_with_the_security_headers(
        gateway, port, request_bytes, status, code):  # noqa: F811
    gateway()
    with connect(port) as sock:
        sock.sendall(request_bytes)
        answered, head, body = parse(read_until_closed(sock))
    assert (answered, body["code"]) == (status, code)
    assert SECURITY_HEADER in head and "x-request-id: " in head


def test_an_unread_body_ends_its_connection_instead_of_being_read_to_be_dropped(
        gateway, port):  # noqa: F811
    """A 404 for a POST whose body never comes: answered at once, connection closed."""
    gateway()
    with connect(port) as sock:
        sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n")
        status, head, _ = parse(read_until_closed(sock, 3))
    assert status == 404 and "connection: close" in head


def test_refused_and_abandoned_bodies_are_logged_without_a_traceback(gateway, port,  # noqa: F811
                                                                     caplog):
    gateway(MAX_BODY_BYTES=100)
    caplog.set_level("INFO")
    with connect(port) as sock:  # a chunked body over the limit
        sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\nc8\r\n" + b"a" * 200 + b"\r\n0\r\n\r\n")
        status, _, body = parse(read_until_closed(sock))
    assert status == 413 and body["code"] == "REQUEST_ENTITY_TOO_LARGE"
    with connect(port) as sock:  # a client gone in the middle of its body
        sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 90\r\n\r\n{\"email\":")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.5)
    assert not [record for record in caplog.records
                if record.levelname in ("ERROR", "CRITICAL") or record.exc_info]
    assert any("ended" in record.getMessage() for record in caplog.records)
