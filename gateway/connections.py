"""Bounds on the gateway's client connections: how many may be open (per client address
and in all), and how long a client may take to start its next request and to send the
request's head. (Its body is read, within HTTP_BODY_TIMEOUT_SECONDS, by the web layer
before a worker is taken: gateway.payloads.read_whole_body.)

A refusal made here, before any WSGI app runs, is still the gateway's JSON error with its
security headers and a request id; eventlet's and the standard library's own refusals of
a malformed head are rewritten to the same shape.
"""

from __future__ import annotations

import errno
import functools
import logging
import resource
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet import wsgi
from nameko.web.server import HttpOnlyProtocol

from gateway.access import SECURITY_HEADERS, new_request_id
from gateway.errors import to_json
from gateway.proxies import TrustedProxies

log = logging.getLogger(__name__)

# Where the web layer finds, in a request's environ, how to end the connection after
# this answer (for a body it will not read: eventlet would otherwise read it to discard).
CLOSE_KEY = "shop.close_connection"
REFUSAL_DRAIN_SECONDS = 1.0  # how long a refused connection's request is read and dropped
REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long",
           429: "Too Many Requests", 431: "Request Header Fields Too Large",
           503: "Service Unavailable", 505: "HTTP Version Not Supported"}


def refusal(status: int, code: str, message: str,
            extra_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A whole HTTP/1.1 answer that closes its connection: the gateway's JSON error body,
    its security headers and a new request id."""
    request_id = new_request_id()
    body = to_json({"error": message, "code": code, "request_id": request_id}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
               ("Connection", "close"), ("Cache-Control", "no-store"),
               ("X-Request-ID", request_id), *SECURITY_HEADERS.items(), *extra_headers]
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + body


TOO_MANY_FROM_CLIENT = refusal(429, "TOO_MANY_CONNECTIONS",
                               "Too many open connections from your address.",
                               (("Retry-After", "1"),))
TOO_MANY_IN_ALL = refusal(503, "SERVICE_UNAVAILABLE", "The gateway has too many open "
                          "connections; try again shortly.", (("Retry-After", "1"),))
HEAD_TOO_SLOW = refusal(408, "REQUEST_TIMEOUT", "The request's head took too long to arrive.")

# eventlet writes these refusals of a malformed head itself, as plain text.
EVENTLET_REFUSALS = {
    wsgi.RESPONSE_414: refusal(414, "URI_TOO_LONG", "The request line is too long."),
    (b"HTTP/1.0 400 Header Line Too Long\r\n"
     b"Connection: close\r\nContent-length: 0\r\n\r\n"):
        refusal(431, "HEADER_TOO_LARGE", "A header line is too long."),
    (b"HTTP/1.0 400 Headers Too Large\r\n"
     b"Connection: close\r\nContent-length: 0\r\n\r\n"):
        refusal(431, "HEADERS_TOO_LARGE", "The request's headers are too large."),
    (b"HTTP/1.0 400 Bad Request\r\n"
     b"Connection: close\r\nContent-length: 0\r\n\r\n"):
        refusal(400, "BAD_REQUEST", "Content-Length is not a whole number of bytes."),
    (b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\nContent-Length: 62\r\n\r\n"
     b"Content-Length and Transfer-Encoding are not allowed together\n"):
        refusal(400, "BAD_REQUEST", "Content-Length and Transfer-Encoding are not allowed "
                "together."),
}


class ConnectionCounter:
    """Open connections per client address and in all; a trusted proxy's address is
    counted in all only (it carries many clients)."""

    def __init__(self, total: int, per_client: int, trusted_proxies: TrustedProxies) -> None:
        self.total = total
        self.per_client = per_client
        self.trusted_proxies = trusted_proxies
        self.open = 0
        self.by_address: Counter[str] = Counter()

    def admit(self, address: str) -> bytes | None:
        """Counts the connection in, or the refusal to send it instead."""
        if self.open >= self.total:
            return TOO_MANY_IN_ALL
        if (self.by_address[address] >= self.per_client
                and not self.trusted_proxies.trusts(address)):
            return TOO_MANY_FROM_CLIENT
        self.open += 1
        self.by_address[address] += 1
        return None

    def release(self, address: str) -> None:
        self.open -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


def send_refusal(sock: socket.socket, answer: bytes) -> None:
    """Sends a refusal, then reads and drops what the client sent for a moment before
    closing, so that the client reads the answer instead of a reset."""
    try:
        sock.settimeout(REFUSAL_DRAIN_SECONDS)
        sock.sendall(answer)
        sock.shutdown(socket.SHUT_WR)
        with eventlet.Timeout(REFUSAL_DRAIN_SECONDS, False):
            while sock.recv(4096):
                pass
    except OSError:
        pass  # the client is gone: nothing more to tell it
    finally:
        sock.close()


def raise_open_files_limit(wanted: int) -> None:
    """Lifts this process's soft limit on open files towards the hard one, so that the
    connection caps, not EMFILE at accept, are what refuses clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning("open files are limited to %s, below HTTP_MAX_CONNECTIONS + 100 (%s)",
                    soft, wanted)


class HeadTimedOut(Exception):
    """The request's head did not arrive within HTTP_HEADER_TIMEOUT_SECONDS."""


class BoundedProtocol(HttpOnlyProtocol):
    """eventlet's HTTP protocol with an idle bound before each request, a deadline on its
    head, and the gateway's JSON answers for the head's refusals."""

    server: BoundedServer
    wfile: Any
    rfile: Any

    def handle_one_request(self) -> None:
        if not self.request_began():
            self.close_connection = 1
            return
        self.head_deadline = eventlet.Timeout(self.server.header_timeout_seconds, HeadTimedOut)
        real_wfile: Any = self.wfile
        self.wfile = RefusalRewriter(real_wfile)
        try:
            super().handle_one_request()
        except HeadTimedOut:
            self.close_connection = 1
            log.info("a request's head from %s took too long", self.client_address[0])
            self.write_quietly(real_wfile, HEAD_TOO_SLOW)
        finally:
            self.head_deadline.cancel()
            self.wfile = real_wfile

    def request_began(self) -> bool:
        """Waits up to HTTP_IDLE_SECONDS for the first byte of the next request."""
        try:
            with eventlet.Timeout(self.server.idle_seconds, False):
                return bool(self.rfile.peek(1))
        except (OSError, ValueError):  # reset, timed out, or already closed
            return False
        return False

    def get_environ(self) -> dict[str, Any]:
        """The head is in: its deadline is over, and the app's answer goes out as it is."""
        self.head_deadline.cancel()
        if isinstance(self.wfile, RefusalRewriter):
            self.wfile = self.wfile.wrapped
        environ: dict[str, Any] = super().get_environ()
        environ[CLOSE_KEY] = self.close_after_answer
        return environ

    def close_after_answer(self) -> None:
        self.close_connection = 1

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The standard library's refusals of a malformed head (400, 431, 505) as JSON."""
        self.close_connection = 1
        codes = {431: "HEADERS_TOO_LARGE", 505: "HTTP_VERSION_NOT_SUPPORTED"}
        self.write_quietly(self.wfile, refusal(
            code, codes.get(code, "BAD_REQUEST"), (message or "Bad request.")[:200]))

    @staticmethod
    def write_quietly(wfile: Any, data: bytes) -> None:
        try:
            wfile.write(data)
            wfile.flush()
        except OSError:
            pass  # the client is gone


class RefusalRewriter:
    """The protocol's output while a head is read: eventlet's plain-text refusals become
    the gateway's JSON ones."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def write(self, data: bytes) -> int:
        written: int = self.wrapped.write(EVENTLET_REFUSALS.get(data, data))
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class BoundedServer(wsgi.Server):
    """eventlet's WSGI server, holding the bounds its protocol reads."""

    def __init__(self, *args: Any, header_timeout_seconds: float, idle_seconds: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_seconds = header_timeout_seconds
        self.idle_seconds = idle_seconds


def accept_loop(listener: socket.socket, counter: ConnectionCounter,
                accepting: Callable[[], bool], serve: Callable[[socket.socket, Any], None],
                spawn: Callable[[Callable[[], None]], Any], socket_timeout: float) -> None:
    """Accepts connections while accepting(): each within the caps is served (and counted
    out when it ends); any other is refused at once."""
    while accepting():
        try:
            sock, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            log.warning("cannot accept a connection: %s", error)
            eventlet.sleep(0.1)  # until a connection ends and frees a descriptor
            continue
        client = address[0]
        answer = counter.admit(client)
        if answer is not None:
            spawn(functools.partial(send_refusal, sock, answer))
            continue
        sock.settimeout(socket_timeout)

        def served(sock: socket.socket = sock, address: Any = address,
                   client: str = client) -> None:
            try:
                serve(sock, address)
            finally:
                counter.release(client)

        spawn(served)
