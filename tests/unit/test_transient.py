"""Which failures are the dependency's (retried until it is back) and which the event's or
the code's (counted, then dead-lettered): shop.transient.is_transient."""

import sqlite3

import psycopg2
import psycopg2.errors
import pytest
from redis import ConnectionError as RedisConnectionError
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from shop.errors import InvalidInput, ServiceTimeout, ServiceUnavailable
from shop.transient import is_transient


def wrapped(kind, cause, invalidated=False):
    return kind("SELECT 1", {}, cause, connection_invalidated=invalidated)


class ProgramLimitExceeded(psycopg2.OperationalError):
    pgcode = "54001"  # as the server sets it on a real error


@pytest.mark.parametrize("error", [
    wrapped(OperationalError, psycopg2.OperationalError("server closed the connection")),
    wrapped(OperationalError, psycopg2.errors.AdminShutdown("terminating connection")),
    wrapped(OperationalError, psycopg2.errors.LockNotAvailable("lock timeout")),
    wrapped(OperationalError, psycopg2.errors.DeadlockDetected("deadlock detected")),
    wrapped(InterfaceError, psycopg2.InterfaceError("connection already closed")),
    wrapped(OperationalError, sqlite3.OperationalError("database is locked")),
    wrapped(ProgrammingError, Exception("anything"), invalidated=True),
    ConnectionRefusedError("broker down"), RedisConnectionError("redis down"),
    ServiceUnavailable("products is down"), ServiceTimeout("products is slow"),
])
def test_the_dependency_at_fault_is_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    wrapped(OperationalError, sqlite3.OperationalError("no such table: notifications")),
    wrapped(OperationalError, sqlite3.OperationalError("table x has no column named y")),
    wrapped(OperationalError, ProgramLimitExceeded("statement too complex")),
    wrapped(ProgrammingError, psycopg2.errors.UndefinedTable("relation does not exist")),
    wrapped(IntegrityError, psycopg2.errors.UniqueViolation("duplicate key")),
    KeyError("id"), InvalidInput("bad event"), ValueError("bug"),
])
def test_the_statement_event_or_code_at_fault_is_not(error):
    assert not is_transient(error)
