"""Events out through a transactional outbox: no state change without its event.

A service writes each event to its `outbox` table in the transaction that makes the
change (`self.outbox.add(session, "user_deleted", {...})`, then its commit), so the event
exists exactly when the change does. A relay in every process of the service publishes
what the outbox holds, in the order it was written, each with a publisher confirm, and
marks it sent. It is woken as soon as a worker that wrote an event has finished, and every
OUTBOX_POLL_SECONDS anyway (a broker that was down, an event another process wrote).

Replicas relay one at a time: a relay claims unsent rows for a lease (OUTBOX_LEASE_SECONDS)
only while no other relay holds an unexpired one, so events of one aggregate are never
published out of order by two processes. A relay that dies mid-batch leaves its claim to
expire; the next publishes the unsent rest again, so an event may arrive twice but is
never lost. Every event carries an `event_id` (handlers deduplicate by it: shop.inbox) and an
`occurred_at`.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import amqp
import eventlet
from eventlet.event import Event
from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from nameko.messaging import HeaderEncoder
from nameko.standalone.events import get_event_exchange
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    exists,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from shop import tracing
from shop.amqp import PERSISTENT, BrokerLink, make_message
from shop.database import Database
from shop.schemas import utcnow
from shop.settings import CallSettings, settings_of
from shop.transient import BROKER_GONE, is_transient

if TYPE_CHECKING:
    from _typeshed import ExcInfo

log = logging.getLogger(__name__)

BATCH = 100
KEEP_SENT = timedelta(hours=1)  # sent rows are kept this long, for inspection
# A constant the PostgreSQL relays of one database serialize their claims on.
RELAY_LOCK = 7_260_001


def outbox_table(metadata: MetaData) -> Table:
    """The outbox of the service whose tables metadata holds."""
    return Table(
        "outbox", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("payload", Text, nullable=False),  # JSON, event_id and occurred_at included
        Column("headers", Text, nullable=False),  # JSON: the call's context (request id)
        Column("occurred_at", DateTime, nullable=False),
        Column("claimed_by", String(36), nullable=True),
        Column("claimed_until", DateTime, nullable=True),
        Column("sent_at", DateTime, nullable=True, index=True),
    )


class Emitter:
    """A worker's `self.outbox`: events written with the change, in its transaction."""

    def __init__(self, table: Table, headers: dict[str, Any], service_name: str = "",
                 header_prefix: str = "nameko") -> None:
        self.table = table
        self.headers = headers
        self.service_name = service_name
        self.header_prefix = header_prefix
        self.wrote = False

    def add(self, session: Session | Connection, event_type: str,
            payload: dict[str, Any]) -> str:
        """Writes the event in the transaction of session (an ORM session or a Core
        connection); returns its event_id. It is published once that transaction commits,
        and never if it rolls back."""
        event_id = str(uuid.uuid4())
        occurred_at = utcnow()
        event = {**payload, "event_id": event_id,
                 "occurred_at": occurred_at.isoformat() + "+00:00"}
        headers = self.headers
        span = tracing.producer_span(self.service_name, event_type)
        if span is not None:  # the handlers' spans are this one's children
            headers = dict(headers)
            tracing.carry(headers, self.header_prefix, span)
            span.set_attribute("shop.event_id", event_id)
            span.end()
        session.execute(insert(self.table).values(
            event_id=event_id, event_type=event_type, payload=json.dumps(event),
            headers=json.dumps(headers), occurred_at=occurred_at))
        self.wrote = True
        return event_id


class EventOutbox(DependencyProvider, HeaderEncoder):
    """Gives workers an Emitter, and relays the outbox to the service's event exchange."""

    link = BrokerLink()

    def __init__(self, declarative_base: Any) -> None:
        self.declarative_base = declarative_base

    def setup(self) -> None:
        settings = settings_of(self.container, CallSettings)
        self.poll_seconds = settings.outbox_poll_seconds
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        self.confirm_seconds = settings.event_confirm_seconds
        self.table = self.declarative_base.metadata.tables["outbox"]
        self.exchange = get_event_exchange(self.container.service_name, self.container.config)
        self.relay_id = str(uuid.uuid4())
        self.emitters: dict[WorkerContext, Emitter] = {}
        self.wake = Event()
        self.running = False
        self.link.use(self)

    def start(self) -> None:
        database = next(dependency for dependency in self.container.dependencies
                        if isinstance(dependency, Database)
                        and dependency.declarative_base is self.declarative_base)
        self.engine: Engine = database.engine
        self.running = True
        self.container.spawn_managed_thread(self._relay_forever)

    def stop(self) -> None:
        self.running = False
        self._wake_up()

    def kill(self) -> None:
        self.stop()

    def on_connected(self, connection: amqp.Connection) -> None:
        channel = connection.channel()
        self.exchange(channel).declare()
        channel.close()
        self._wake_up()  # what waited for the broker can go now

    def on_lost(self, error: Exception) -> None:
        """Nothing of its own to fail: unsent rows stay in the outbox."""

    def get_dependency(self, worker_ctx: WorkerContext) -> Emitter:
        emitter = Emitter(self.table, self.get_message_headers(worker_ctx),
                          worker_ctx.service_name, self.header_prefix)
        self.emitters[worker_ctx] = emitter
        return emitter

    def worker_result(self, worker_ctx: WorkerContext, result: object = None,
                      exc_info: ExcInfo | None = None) -> None:
        emitter = self.emitters.pop(worker_ctx, None)
        if emitter is not None and emitter.wrote:
            self._wake_up()

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        self.emitters.pop(worker_ctx, None)

    # --- the relay -----------------------------------------------------------------

    def _wake_up(self) -> None:
        if not self.wake.ready():
            self.wake.send(True)

    def _relay_forever(self) -> None:
        while self.running:
            woken = False
            with eventlet.Timeout(self.poll_seconds, False):
                woken = bool(self.wake.wait())
            self.wake = Event()
            if not self.running:
                return
            try:
                while self.relay_batch() == BATCH:
                    pass
                if not woken:  # the periodic pass, not a write's: tidy up then
                    self.purge_sent()
            except Exception as error:  # the next wake-up or poll tries again
                level = logging.WARNING if is_transient(error) or isinstance(
                    error, BROKER_GONE) else logging.ERROR
                log.log(level, "the outbox relay stopped for now: %s: %s",
                        type(error).__name__, str(error).splitlines()[0][:200])

    def relay_batch(self) -> int:
        """Claims and publishes up to BATCH unsent events, oldest first; how many."""
        now = utcnow()
        table = self.table
        claimed, other = table.alias("claimed"), table.alias("other")
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": RELAY_LOCK})
            another_relay = exists().where(
                other.c.sent_at.is_(None), other.c.claimed_by != self.relay_id,
                other.c.claimed_until >= now)
            unsent = (select(claimed.c.id).where(
                claimed.c.sent_at.is_(None),
                or_(claimed.c.claimed_until.is_(None), claimed.c.claimed_until < now,
                    claimed.c.claimed_by == self.relay_id))
                .order_by(claimed.c.id).limit(BATCH))
            connection.execute(
                update(table).where(and_(table.c.id.in_(unsent), ~another_relay))
                .values(claimed_by=self.relay_id, claimed_until=now + self.lease))
            rows = connection.execute(
                select(table).where(table.c.claimed_by == self.relay_id,
                                    table.c.sent_at.is_(None))
                .order_by(table.c.id)).mappings().all()
        for row in rows:
            self.link.publish_confirmed(
                make_message(json.loads(row["payload"]), self.link.serializer, PERSISTENT,
                             json.loads(row["headers"])),
                self.exchange.name, row["event_type"], self.confirm_seconds)
            with self.engine.begin() as connection:
                connection.execute(update(table).where(table.c.id == row["id"])
                                   .values(sent_at=utcnow(), claimed_by=None,
                                           claimed_until=None))
        return len(rows)

    def purge_sent(self) -> None:
        """Drops events sent more than KEEP_SENT ago."""
        with self.engine.begin() as connection:
            connection.execute(self.table.delete().where(
                self.table.c.sent_at < utcnow() - KEEP_SENT))
