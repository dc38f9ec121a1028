"""The Database dependency when its server goes away under a worker."""

from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError

from shop.database import Database
from users.models import Base


class WorkerContext:
    """Stands for nameko's (the dependency keys its sessions by it, weakly)."""


class DeadSession:
    """A worker's session whose closing rollback meets a server that is gone."""

    def close(self):
        raise OperationalError("ROLLBACK", {}, Exception("server closed the connection"))


def test_a_session_that_cannot_close_costs_the_worker_not_the_service():
    database = Database(Base)
    worker_ctx = WorkerContext()
    database.dbs[worker_ctx] = DeadSession()
    database.worker_teardown(worker_ctx)  # nameko kills the container if this raises
    assert worker_ctx not in database.dbs


def test_other_teardown_errors_still_surface():
    database = Database(Base)
    worker_ctx = WorkerContext()
    database.dbs[worker_ctx] = SimpleNamespace(close=lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        database.worker_teardown(worker_ctx)
