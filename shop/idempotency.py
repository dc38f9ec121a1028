"""Idempotency keys on a service's writes: a retried write gets the first answer back.

A client that was told 503 or 504 cannot know whether its write happened. Sent again
with the same Idempotency-Key, it must not happen twice. So the first answer to a key is
stored in the write's own transaction (an `idempotent_answers` table in each service's
database): the write and its answer commit together or not at all, whichever process,
gateway or broker fault came in between.

- A key belongs to a scope: the acting user's id, else the client's address (a sign-up),
  else the operator (a shell). It holds for IDEMPOTENCY_SECONDS (24 h by default).
- The same operation with the same arguments again: the stored answer, marked replayed.
  Other arguments, or another operation: IdempotencyKeyReused.
- While the first is still running: KeyInFlight (PostgreSQL holds a transaction-scoped
  advisory lock per key; SQLite runs one write at a time, so the second waits, then
  replays).
- Only a write that succeeded is kept. A refused one rolls back with its key, so a retry
  is judged afresh against what the data is then.

A service declares `answers = IdempotentAnswers(ANSWERS)`; `@idempotent` on an RPC
method (under @rpc_method) makes it take `idempotency_key=` and `client=`. The method
does its writes in `self.db.session` and flushes, never commits: the decorator stores the
answer (given a key) and commits, once, for both.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from nameko.containers import WorkerContext
from nameko.exceptions import IncorrectSignature
from nameko.extensions import DependencyProvider
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shop.errors import IdempotencyKeyReused, KeyInFlight
from shop.schemas import load_idempotency_key, utcnow
from shop.settings import CallSettings, settings_of

OPERATOR = "operator"  # the scope of keys given with no actor and no client: the shell
# Each keyed write also deletes the expired answers this often (1 in 100): the table stays
# small without a timer, and without every write paying for it.
SWEEP_SHARE = 0.01
AFTER_COMMIT = "shop.idempotency.after_commit"  # in session.info


def answers_table(metadata: MetaData) -> Table:
    """The stored answers of the service whose tables metadata holds."""
    return Table(
        "idempotent_answers", metadata,
        Column("scope", String(64), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),  # of the operation and arguments
        Column("answer", Text, nullable=False),  # JSON
        Column("created_at", DateTime, nullable=False, index=True),
    )


def fingerprint(operation: str, arguments: dict[str, Any]) -> str:
    canonical = json.dumps([operation, arguments], sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope_of(actor: Any, client: Any) -> str:
    if isinstance(actor, dict) and isinstance(actor.get("id"), str):
        return f"user:{actor['id']}"[:64]
    if isinstance(client, str) and client:
        return f"client:{client}"[:64]
    return OPERATOR


class IdempotentAnswers(DependencyProvider):
    """Gives workers the service's answers table and how long an answer is kept."""

    def __init__(self, table: Table, lifetime_seconds: float = 86400) -> None:
        self.table = table
        self.lifetime_seconds = lifetime_seconds  # IDEMPOTENCY_SECONDS, once set up

    def setup(self) -> None:
        self.lifetime_seconds = settings_of(self.container, CallSettings).idempotency_seconds

    def get_dependency(self, worker_ctx: WorkerContext) -> IdempotentAnswers:
        return self


def idempotent(method: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates a service method whose writes go to self.db.session, uncommitted."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def write(self: Any, *args: Any, idempotency_key: Any = None, client: Any = None,
              **kwargs: Any) -> Any:
        try:
            arguments = signature.bind(self, *args, **kwargs).arguments
        except TypeError as error:  # what nameko's own check would have said
            raise IncorrectSignature(str(error)) from None
        session: Session = self.db.session
        if idempotency_key is None:
            answer = method(self, *args, **kwargs)
            committed(session)
            return answer
        answers: IdempotentAnswers = self.answers
        request = {name: value for name, value in arguments.items()
                   if name not in ("self", "actor")}
        once = Once(session, answers.table, scope_of(arguments.get("actor"), client),
                    load_idempotency_key(idempotency_key), fingerprint(method.__name__, request),
                    answers.lifetime_seconds)
        found, earlier = once.earlier()
        if found:
            session.rollback()  # ends the transaction (and the lock) it read in
            return {"answer": earlier, "replayed": True}
        answer = method(self, *args, **kwargs)
        try:
            once.keep(answer)
            committed(session)
        except IntegrityError:  # the same key committed first (SQLite has no lock to wait on)
            session.rollback()
            session.info.pop(AFTER_COMMIT, None)
            found, earlier = once.earlier()
            if not found:
                raise
            return {"answer": earlier, "replayed": True}
        return {"answer": answer, "replayed": False}

    # nameko checks a call's arguments against the signature inspect finds: the method's
    # own, and these two.
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
             for name in ("idempotency_key", "client")]
    write.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra])
    return write


def after_commit(session: Session, action: Callable[[], object]) -> None:
    """Runs action once the write's transaction has committed (and not for a replay):
    for what must not happen unless the write stands, such as a call to another service."""
    session.info.setdefault(AFTER_COMMIT, []).append(action)


def committed(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.info.pop(AFTER_COMMIT, None)
        raise
    for action in session.info.pop(AFTER_COMMIT, []):
        action()


class Once:
    """One keyed write in session's transaction."""

    def __init__(self, session: Session, table: Table, scope: str, key: str,
                 fingerprint: str, lifetime_seconds: float) -> None:
        self.session = session
        self.table = table
        self.row = {"scope": scope, "key": key, "fingerprint": fingerprint}
        self.oldest = utcnow() - timedelta(seconds=lifetime_seconds)

    def earlier(self) -> tuple[bool, Any]:
        """(True, the answer kept for this key), or (False, None) when this call is the
        first; raises KeyInFlight or IdempotencyKeyReused."""
        session, scope, key = self.session, self.row["scope"], self.row["key"]
        if session.get_bind().dialect.name == "postgresql":
            lock = func.pg_try_advisory_xact_lock(func.hashtextextended(f"{scope} {key}", 0))
            if not session.execute(select(lock)).scalar():
                raise KeyInFlight("A request with this Idempotency-Key is still running; "
                                  "try again in a moment.", {"retry_after": 1})
        table = self.table
        stored = session.execute(select(table.c.fingerprint, table.c.answer, table.c.created_at)
                                 .where(table.c.scope == scope, table.c.key == key)).first()
        if stored is None:
            return False, None
        if stored.created_at < self.oldest:  # expired: the key is free again
            session.execute(delete(table).where(table.c.scope == scope, table.c.key == key))
            return False, None
        if stored.fingerprint != self.row["fingerprint"]:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used for a different request.",
                {"idempotency_key": ["Already used with another request."]})
        return True, json.loads(stored.answer)

    def keep(self, answer: Any) -> None:
        self.session.execute(self.table.insert().values(
            **self.row, answer=json.dumps(answer, default=str), created_at=utcnow()))
        if random.random() < SWEEP_SHARE:
            self.session.execute(delete(self.table).where(self.table.c.created_at < self.oldest))
