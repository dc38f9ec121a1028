"""What the service unit tests share: a service's tables in a SQLite file of the test's own."""

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from shop.database import DatabaseWrapper


@pytest.fixture
def sqlite_db(tmp_path):
    """Opens a `self.db` on a fresh SQLite file holding a declarative base's tables."""
    opened: list[tuple[Session, Engine]] = []

    def open_db(base) -> DatabaseWrapper:
        engine = create_engine(f"sqlite:///{tmp_path}/db-{len(opened)}.sqlite")
        base.metadata.create_all(engine)
        session = Session(engine)
        opened.append((session, engine))
        return DatabaseWrapper(lambda: session, engine)

    yield open_db
    for session, engine in opened:
        session.close()
        engine.dispose()

