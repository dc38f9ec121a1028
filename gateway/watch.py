"""What the gateway watches for its operators, at a bounded cost however often it is
asked: the dead-letter gauge, kept fresh over one long-lived broker connection (a scrape
costs the broker nothing), and the services' health, probed at most once a second or so
whatever the number of callers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import amqp
import eventlet
from eventlet.event import Event
from eventlet.greenthread import GreenThread
from kombu.connection import Connection
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider

from gateway import metrics
from gateway.settings import GatewaySettings
from shop.deadletters import waiting
from shop.queues import BrokerSettings
from shop.roster import BACKENDS, GATEWAY
from shop.settings import settings_of
from shop.transient import BROKER_GONE

log = logging.getLogger(__name__)
REFRESH_SECONDS = 15.0  # Prometheus's usual scrape interval
CONNECT_SECONDS = 2.0
TICK_SECONDS = 1.0  # heartbeats are read and sent this often between refreshes


class DeadLetterWatch(DependencyProvider):
    """Reads each service's dead-letter queue depth every REFRESH_SECONDS into
    shop_dead_letters; a broker outage keeps the last values and is tried again. Its
    connection carries HEARTBEAT and moves past a node that is down, as every other."""

    def setup(self) -> None:
        self.amqp_uri = settings_of(self.container, GatewaySettings).amqp_uri
        self.heartbeat = settings_of(self.container, BrokerSettings).heartbeat
        self.connection: Connection | None = None
        self.thread: GreenThread | None = None

    def start(self) -> None:
        self.thread = self.container.spawn_managed_thread(self.watch)

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.kill()
            self.thread = None
        self.close()

    def kill(self) -> None:
        self.stop()

    def watch(self) -> None:
        refresh_at = 0.0
        while True:
            try:
                broker = self.connected()
                if time.monotonic() >= refresh_at:
                    refresh_at = time.monotonic() + REFRESH_SECONDS
                    for service in (*BACKENDS, GATEWAY):
                        metrics.DEAD_LETTERS.labels(service).set(waiting(broker, service))
                self.keep_alive(broker)
            except BROKER_GONE as error:
                log.warning("cannot read the dead-letter queues: %s", error)
                self.close()  # a fresh connection next time, after a pause
                eventlet.sleep(min(REFRESH_SECONDS, CONNECT_SECONDS))

    @staticmethod
    def keep_alive(broker: amqp.Connection) -> None:
        """Waits a tick, reading the broker's heartbeats and sending its own."""
        try:
            broker.drain_events(timeout=TICK_SECONDS)
        except TimeoutError:
            pass
        broker.heartbeat_tick()

    def connected(self) -> amqp.Connection:
        if self.connection is None:
            self.connection = Connection(self.amqp_uri, heartbeat=self.heartbeat,
                                         connect_timeout=CONNECT_SECONDS)
            self.connection.ensure_connection(max_retries=1)  # past a node that is down
        return self.connection.connection

    def close(self) -> None:
        """Drops the connection without a word to the broker: it may be gone, and a stop
        must not wait on it."""
        if self.connection is not None:
            self.connection.collect()
            self.connection = None


class RecentAnswer(DependencyProvider):
    """An answer worked out at most once per `seconds`: callers in between get the last
    one, and callers while it is being worked out wait for that one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def setup(self) -> None:
        self.answer: Any = None
        self.expires = 0.0
        self.pending: Event | None = None

    def get_dependency(self, worker_ctx: WorkerContext) -> Callable[[Callable[[], Any]], Any]:
        return self.latest

    def latest(self, work_out: Callable[[], Any]) -> Any:
        if time.monotonic() < self.expires:
            return self.answer
        if self.pending is not None:
            return self.pending.wait()
        self.pending = pending = Event()
        try:
            answer = work_out()
        except Exception as error:
            self.pending = None
            pending.send_exception(error)
            raise
        self.answer, self.expires = answer, time.monotonic() + self.seconds
        self.pending = None
        pending.send(answer)
        return answer
