"""What a service wrote to its outbox: for unit tests (nothing is relayed there), and for
tests that wait until the relay has sent it all."""

import json
import time
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, func, select

from shop.outbox import outbox_table

ADDED = ("event_id", "occurred_at")  # what the outbox adds to every event


def written_events(service: Any, table: Table, name: str | None = None) -> list[Any]:
    """(event type, payload) of every event written, oldest first; only payloads when a
    name is given. The outbox's own event_id and occurred_at are left out."""
    rows = service.db.session.execute(select(table).order_by(table.c.id)).mappings()
    events = [(row["event_type"], {key: value for key, value in json.loads(row["payload"]).items()
                                   if key not in ADDED}) for row in rows]
    return events if name is None else [payload for kind, payload in events if kind == name]


def unsent(config: dict[str, Any], service: str) -> int:
    """How many events the service's outbox still holds unsent."""
    table = outbox_table(MetaData())
    engine = create_engine(config["DB_URIS"][f"{service}:Base"])
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(table)
                                         .where(table.c.sent_at.is_(None))) or 0)
    finally:
        engine.dispose()


def events_delivered(config: dict[str, Any], service: str, seconds: float = 5.0) -> None:
    """Until the service's outbox holds nothing unsent, and its consumers had a moment."""
    deadline = time.monotonic() + seconds
    while unsent(config, service):
        if time.monotonic() > deadline:
            raise AssertionError(f"{service}'s outbox did not drain")
        time.sleep(0.02)
    time.sleep(0.2)
