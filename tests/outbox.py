"""What a service wrote to its outbox, for unit tests (nothing is relayed there)."""

import json
from typing import Any

from sqlalchemy import Table, select

ADDED = ("event_id", "occurred_at")  # what the outbox adds to every event


def written_events(service: Any, table: Table, name: str | None = None) -> list[Any]:
    """(event type, payload) of every event written, oldest first; only payloads when a
    name is given. The outbox's own event_id and occurred_at are left out."""
    rows = service.db.session.execute(select(table).order_by(table.c.id)).mappings()
    events = [(row["event_type"], {key: value for key, value in json.loads(row["payload"]).items()
                                   if key not in ADDED}) for row in rows]
    return events if name is None else [payload for kind, payload in events if kind == name]
