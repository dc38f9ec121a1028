"""A write retried under its Idempotency-Key gets the first answer and writes nothing
more (shop/idempotency.py), shown on the posts service with nameko's worker_factory on a
real SQLite database."""

import inspect
import uuid
from datetime import timedelta

import pytest
from nameko.exceptions import IncorrectSignature
from nameko.testing.services import worker_factory
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from posts.models import Answers, Base, Outbox, Post
from posts.service import PostsService
from shop.errors import IdempotencyKeyReused, InvalidInput, NotFound
from shop.idempotency import IdempotentAnswers, after_commit, committed, scope_of
from shop.outbox import Emitter
from shop.schemas import utcnow
from tests.outbox import written_events

ADA = {"id": str(uuid.uuid4()), "role": "user"}
BOB = {"id": str(uuid.uuid4()), "role": "user"}
POST = {"title": "Hello", "body": "First words."}


@pytest.fixture
def service(sqlite_db):
    return worker_factory(PostsService, db=sqlite_db(Base), outbox=Emitter(Outbox, {}),
                          answers=IdempotentAnswers(Answers))


def posts(service) -> int:
    return service.db.session.scalar(select(func.count()).select_from(Post))


def test_a_retry_gets_the_first_answer_and_writes_nothing(service):
    first = service.create_post(POST, actor=ADA, idempotency_key="k-1")
    again = service.create_post(POST, actor=ADA, idempotency_key="k-1")
    assert first == {"answer": first["answer"], "replayed": False}
    assert again == {"answer": first["answer"], "replayed": True}
    assert posts(service) == 1
    assert len(written_events(service, Outbox, "post_created")) == 1


def test_without_a_key_each_call_writes_and_answers_as_before(service):
    first = service.create_post(POST, actor=ADA)
    assert first["title"] == "Hello"  # the answer itself, not wrapped
    service.create_post(POST, actor=ADA)
    assert posts(service) == 2


def test_a_key_is_each_users_own(service):
    service.create_post(POST, actor=ADA, idempotency_key="k-1")
    bobs = service.create_post(POST, actor=BOB, idempotency_key="k-1")
    assert bobs["replayed"] is False and bobs["answer"]["author_id"] == BOB["id"]
    assert posts(service) == 2


def test_a_key_belongs_to_the_user_else_the_client_else_the_operator():
    assert scope_of(ADA, "10.0.0.1") == f"user:{ADA['id']}"
    assert scope_of(None, "10.0.0.1") == "client:10.0.0.1"  # a sign-up
    assert scope_of({"role": "admin"}, None) == "operator"  # the shell


def test_the_same_key_with_another_request_is_refused(service):
    service.create_post(POST, actor=ADA, idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReused):
        service.create_post({**POST, "title": "Other"}, actor=ADA, idempotency_key="k-1")
    post_id = service.create_post(POST, actor=ADA)["id"]
    with pytest.raises(IdempotencyKeyReused):  # another operation
        service.delete_post(post_id, actor=ADA, idempotency_key="k-1")
    assert posts(service) == 2


def test_a_refused_write_keeps_no_answer_so_its_retry_is_judged_afresh(service):
    with pytest.raises(InvalidInput):
        service.create_post({**POST, "title": " "}, actor=ADA, idempotency_key="k-1")
    fixed = service.create_post(POST, actor=ADA, idempotency_key="k-1")
    assert fixed["replayed"] is False
    assert posts(service) == 1


def test_a_retried_delete_answers_as_the_first_did_not_with_not_found(service):
    post_id = service.create_post(POST, actor=ADA)["id"]
    assert service.delete_post(post_id, actor=ADA, idempotency_key="d-1") == {
        "answer": None, "replayed": False}
    assert service.delete_post(post_id, actor=ADA, idempotency_key="d-1") == {
        "answer": None, "replayed": True}
    with pytest.raises(NotFound):  # without the key, it is a new request
        service.delete_post(post_id, actor=ADA)


def test_an_answer_is_kept_for_its_lifetime_only(service):
    service.create_post(POST, actor=ADA, idempotency_key="k-1")
    service.db.session.execute(update(Answers).values(
        created_at=utcnow() - timedelta(seconds=86401)))
    service.db.session.commit()
    assert service.create_post(POST, actor=ADA, idempotency_key="k-1")["replayed"] is False
    assert posts(service) == 2


@pytest.mark.parametrize("key", ["", " k", "k ", "ключ", "x" * 256, 7, ["k"]])
def test_a_malformed_key_is_invalid_input(service, key):
    with pytest.raises(InvalidInput) as error:
        service.create_post(POST, actor=ADA, idempotency_key=key)
    assert "idempotency_key" in (error.value.details or {})
    assert posts(service) == 0


def test_the_arguments_are_checked_as_nameko_checks_them(service):
    with pytest.raises(IncorrectSignature):
        service.create_post(POST, actor=ADA, colour="red")
    assert {"idempotency_key", "client"} <= set(
        inspect.signature(PostsService.create_post).parameters)


def test_what_waits_for_the_commit_runs_after_it_and_not_when_it_fails(service):
    session, ran = service.db.session, []
    after_commit(session, lambda: ran.append(f"{posts(service)} post"))
    session.add(Post(author_id=ADA["id"], title="t", body="b"))
    committed(session)
    assert ran == ["1 post"]
    after_commit(session, lambda: ran.append("never"))
    session.add(Post(id=service.db.session.scalar(select(Post.id)), author_id="x", title="t",
                     body="b"))
    with pytest.raises(IntegrityError):
        committed(session)  # the same primary key
    session.rollback()
    committed(session)
    assert ran == ["1 post"]


def test_keyed_writes_now_and_then_delete_the_expired_answers(service, monkeypatch):
    service.create_post(POST, actor=ADA, idempotency_key="old")
    service.db.session.execute(update(Answers).values(
        created_at=utcnow() - timedelta(seconds=86401)))
    service.db.session.commit()
    monkeypatch.setattr("shop.idempotency.SWEEP_SHARE", 1.0)  # this time
    service.create_post(POST, actor=BOB, idempotency_key="new")
    assert set(service.db.session.scalars(select(Answers.c.key))) == {"new"}
