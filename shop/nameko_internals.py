"""Every place nameko-shop leans on nameko beyond its documented API, in one module.

nameko 2.14 offers no public hook for some things the shop needs (the web server's
registered routes, for one), and the shop's extensions override methods nameko calls
but does not document. Private attributes are read only here; the overridden methods
are listed in OVERRIDDEN with the signatures they were written against. The unit test
tests/unit/test_nameko_internals.py pins WRITTEN_FOR and those signatures, so moving
to another nameko release fails loudly instead of breaking at run time. The gateway's
connection bounds override eventlet's HTTP protocol the same way (EVENTLET_WRITTEN_FOR).
"""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler
from typing import Any

from eventlet.greenthread import GreenThread
from eventlet.wsgi import HttpProtocol
from nameko.extensions import ProviderCollector
from nameko.messaging import Consumer, QueueConsumer
from nameko.rpc import Rpc, RpcConsumer
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer

WRITTEN_FOR = "2.14.1"
EVENTLET_WRITTEN_FOR = "0.41.3"

# (class, method) -> its parameters as nameko defines them; shop code overrides these.
OVERRIDDEN: dict[tuple[type, str], tuple[str, ...]] = {
    (RpcConsumer, "handle_result"): ("self", "message", "result", "exc_info"),
    (Rpc, "handle_result"): ("self", "message", "worker_ctx", "result", "exc_info"),
    (Consumer, "handle_message_processed"): ("self", "message", "result", "exc_info"),
    (QueueConsumer, "get_consumers"): ("self", "consumer_cls", "channel"),
    (QueueConsumer, "ack_message"): ("self", "message"),
    (QueueConsumer, "requeue_message"): ("self", "message"),
    (QueueConsumer, "unregister_provider"): ("self", "provider"),
    (QueueConsumer, "on_connection_error"): ("self", "exc", "interval"),
    (QueueConsumer, "on_consume_ready"): ("self", "connection", "channel", "consumers",
                                          "kwargs"),
    (QueueConsumer, "run"): ("self", "_tokens", "kwargs"),
    (WebServer, "make_url_map"): ("self",),
    (WebServer, "get_wsgi_app"): ("self",),
    (WebServer, "get_wsgi_server"): ("self", "sock", "wsgi_app", "protocol", "debug"),
    (WebServer, "context_data_from_headers"): ("self", "request"),
    (WebServer, "run"): ("self",),
    (HttpProtocol, "handle_one_request"): ("self",),
    (HttpProtocol, "get_environ"): ("self",),
    (BaseHTTPRequestHandler, "send_error"): ("self", "code", "message", "explain"),
    (HttpRequestHandler, "response_from_result"): ("self", "result"),
    (HttpRequestHandler, "response_from_exception"): ("self", "exc"),
    (Timer, "setup"): ("self",),
}


def registered_providers(collector: ProviderCollector) -> set[Any]:
    """The entrypoints registered with a shared extension (a WebServer's routes): nameko
    keeps them in a private set and offers no accessor."""
    providers: set[Any] = collector._providers
    return providers


def has_consumed(consumer: QueueConsumer) -> bool:
    """Whether a queue consumer got as far as consuming once (nameko's start finished)."""
    return bool(consumer._consumers_ready.ready())


def consuming_thread(consumer: QueueConsumer) -> GreenThread | None:
    thread: GreenThread | None = consumer._gt
    return thread


def forget_provider(consumer: QueueConsumer, provider: Any) -> None:
    """Drop a provider's kombu consumer without cancelling it on a channel: for when the
    connection it was on is gone. nameko cancels only from its consuming loop."""
    consumer._consumers.pop(provider, None)


def release_pending_removals(consumer: QueueConsumer) -> None:
    """Let go of every provider waiting to be cancelled by the consuming loop (which does
    not turn while it reconnects): there is no channel to cancel on any more."""
    pending, consumer._pending_remove_providers = consumer._pending_remove_providers, {}
    for provider, removed in pending.items():
        forget_provider(consumer, provider)
        removed.send()


def listening_socket(server: WebServer) -> socket.socket:
    """The socket a web server accepts on (nameko keeps it private)."""
    sock: socket.socket = server._sock
    return sock


def still_accepting(server: WebServer) -> bool:
    """False once the web server's stop has begun."""
    return bool(server._is_accepting)
