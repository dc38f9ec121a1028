"""The users service's rules, run with nameko's worker_factory on a real SQLite database."""


import bcrypt
import pytest
from nameko.testing.services import worker_factory

from shop.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from shop.outbox import Emitter
from shop.tokens import Tokens
from tests.conftest import TEST_JWT_SECRET
from tests.outbox import written_events
from users.models import Base, Outbox, User
from users.passwords import PREHASHED, Passwords
from users.service import UsersService

TOKENS = Tokens(TEST_JWT_SECRET, "HS256", "nameko-shop", "nameko-shop-api", 3600)
PASSWORDS = Passwords(rounds=4)


@pytest.fixture
def service(sqlite_db):
    return worker_factory(UsersService, db=sqlite_db(Base), passwords=PASSWORDS, tokens=TOKENS,
                          outbox=Emitter(Outbox, {}))


def events(service):
    return written_events(service, Outbox)


def new_user(service, name="ada", email="ada@example.com", password="correct horse"):
    return service.create_user({"name": name, "email": email, "password": password})


def as_actor(user, role="user"):
    return {"id": user["id"], "role": role}


def test_create_user_normalises_email_and_never_returns_the_hash(service):
    user = new_user(service, email="Ada@Example.COM")
    assert user["email"] == "ada@example.com"
    assert user["role"] == "user"
    assert "password" not in user and "password_hash" not in user
    assert events(service) == [
        ("user_created", {"id": user["id"], "name": "ada", "email": "ada@example.com",
                          "role": "user"})]


@pytest.mark.parametrize("password", ["short", "ééé", "x" * 1025])
def test_password_outside_8_to_1024_characters_is_invalid(service, password):
    with pytest.raises(InvalidInput) as error:
        new_user(service, password=password)
    assert "password" in (error.value.details or {})


def test_new_user_may_not_choose_a_role(service):
    with pytest.raises(InvalidInput) as error:
        service.create_user({"name": "eve", "email": "eve@example.com",
                             "password": "correct horse", "role": "admin"})
    assert "role" in (error.value.details or {})


def test_an_error_for_thousands_of_unknown_fields_names_a_few_and_counts_the_rest(service):
    flood = {f"field{n}": n for n in range(5000)}
    with pytest.raises(InvalidInput) as error:
        service.create_user({"name": "eve", "email": "eve@example.com",
                             "password": "correct horse", **flood})
    details = error.value.details or {}
    assert len(details) == 21 and details["field0"] == ["Unknown field."]
    assert all(messages == ["Unknown field."] for field, messages in details.items()
               if field != "_schema")
    assert details["_schema"] == ["And 4980 more fields with errors."]


@pytest.mark.parametrize("data", [None, "ada", [], {"name": "", "email": "x@y.z",
                                                    "password": "12345678"}])
def test_malformed_input_is_invalid(service, data):
    with pytest.raises(InvalidInput):
        service.create_user(data)


def test_names_and_emails_are_unique_whatever_their_case(service):
    new_user(service)
    with pytest.raises(Conflict) as error:
        new_user(service, name="ADA", email="ADA@example.com")
    assert set(error.value.details or {}) == {"name", "email"}


def test_sign_in_returns_a_token_the_gateway_accepts(service):
    user = new_user(service)
    session = service.sign_in({"email": "ADA@example.com", "password": "correct horse"})
    assert session["token_type"] == "Bearer" and session["expires_in"] == 3600
    claims = TOKENS.verify(session["token"])
    assert claims["sub"] == user["id"] and claims["role"] == "user"


@pytest.mark.parametrize("email,password", [
    ("ada@example.com", "wrong horse"),
    ("nobody@example.com", "correct horse"),
    ("ada@example.com", "x" * 100),
])
def test_unknown_email_and_wrong_password_fail_alike(service, email, password):
    new_user(service)
    with pytest.raises(Unauthorized) as error:
        service.sign_in({"email": email, "password": password})
    assert str(error.value) == "The email or password is wrong."


def test_email_is_shown_only_to_its_owner_or_an_admin(service):
    ada, bob = new_user(service), new_user(service, "bob", "bob@example.com")
    assert "email" not in service.get_user(ada["id"])
    assert "email" not in service.get_user(ada["id"], actor=as_actor(bob))
    assert service.get_user(ada["id"], actor=as_actor(ada))["email"] == "ada@example.com"
    assert service.get_user(ada["id"], actor={"role": "admin"})["email"] == "ada@example.com"


@pytest.mark.parametrize("user_id", [
    "not-a-uuid", 42, None, "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_user_id_is_not_found(service, user_id):
    with pytest.raises(NotFound):
        service.get_user(user_id)


def test_updating_someone_elses_account_is_forbidden(service):
    ada, bob = new_user(service), new_user(service, "bob", "bob@example.com")
    with pytest.raises(Forbidden):
        service.update_user(ada["id"], {"name": "mallory"}, actor=as_actor(bob))


def test_only_an_admin_may_change_a_role(service):
    ada = new_user(service)
    with pytest.raises(Forbidden):
        service.update_user(ada["id"], {"role": "admin"}, actor=as_actor(ada))
    updated = service.update_user(ada["id"], {"role": "admin"}, actor={"role": "admin"})
    assert updated["role"] == "admin"


def test_changing_password_lets_the_new_one_sign_in(service):
    ada = new_user(service)
    service.update_user(ada["id"], {"password": "battery staple"}, actor=as_actor(ada))
    assert service.sign_in({"email": "ada@example.com", "password": "battery staple"})
    with pytest.raises(Unauthorized):
        service.sign_in({"email": "ada@example.com", "password": "correct horse"})
    event, payload = events(service)[-1]
    assert event == "user_updated" and payload["changed"] == ["password"]
    assert "password" not in payload and "password_hash" not in payload


def test_signing_in_moves_a_hash_of_the_old_scheme_to_the_new_one(service):
    ada = new_user(service)
    user = service.db.session.get(User, ada["id"])
    user.password_hash = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    service.db.session.commit()
    before = service.get_user(ada["id"], actor=as_actor(ada))
    assert service.sign_in({"email": "ada@example.com", "password": "correct horse"})
    service.db.session.expire_all()
    assert service.db.session.get(User, ada["id"]).password_hash.startswith(PREHASHED)
    assert service.sign_in({"email": "ada@example.com", "password": "correct horse"})
    # Not a change of the account: nothing announced, no token revoked.
    assert service.get_user(ada["id"], actor=as_actor(ada)) == before
    assert [event for event, _ in events(service)] == ["user_created"]


def test_an_update_needs_an_actor(service):
    ada = new_user(service)
    with pytest.raises(Forbidden):
        service.update_user(ada["id"], {"name": "x"}, actor=None)
    with pytest.raises(InvalidInput):
        service.update_user(ada["id"], {"name": "x"}, actor={"role": "root"})


def test_renaming_to_a_taken_name_conflicts(service):
    ada = new_user(service)
    new_user(service, "bob", "bob@example.com")
    with pytest.raises(Conflict):
        service.update_user(ada["id"], {"name": "Bob"}, actor=as_actor(ada))
    assert service.update_user(ada["id"], {"name": "Ada"}, actor=as_actor(ada))["name"] == "Ada"


def test_deleting_self_emits_user_deleted(service):
    ada = new_user(service)
    service.delete_user(ada["id"], actor=as_actor(ada))
    assert events(service)[-1] == ("user_deleted", {"id": ada["id"]})
    with pytest.raises(NotFound):
        service.get_user(ada["id"])


def test_deleting_someone_else_is_forbidden(service):
    ada, bob = new_user(service), new_user(service, "bob", "bob@example.com")
    with pytest.raises(Forbidden):
        service.delete_user(ada["id"], actor=as_actor(bob))


def test_set_role_is_the_operators_way_to_make_an_admin(service):
    ada = new_user(service)
    assert service.set_role(ada["id"], "admin")["role"] == "admin"
    with pytest.raises(InvalidInput):
        service.set_role(ada["id"], "root")


def test_list_users_pages_public_profiles(service):
    for index in range(5):
        new_user(service, f"user{index}", f"user{index}@example.com")
    page = service.list_users(page=2, limit=2)
    assert page["total"] == 5 and page["page"] == 2 and page["limit"] == 2
    assert [user["name"] for user in page["items"]] == ["user2", "user3"]
    assert all("email" not in user for user in page["items"])


@pytest.mark.parametrize("page,limit", [(0, 10), (1, 0), (1, 101), ("x", 10)])
def test_bad_paging_values_are_invalid(service, page, limit):
    with pytest.raises(InvalidInput):
        service.list_users(page=page, limit=limit)


def test_an_account_and_its_event_are_kept_together_or_not_at_all(service, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("database gone at commit")

    monkeypatch.setattr(service.db.session, "commit", refuse)
    with pytest.raises(ConnectionRefusedError):
        new_user(service)
    service.db.session.rollback()  # what the worker's teardown does
    monkeypatch.undo()
    assert events(service) == []  # no announcement of an account that does not exist
    assert new_user(service)["name"] == "ada"  # the name was never taken
    assert [event for event, _ in events(service)] == ["user_created"]


def test_an_operator_finds_an_account_by_its_email_in_any_case(service):
    ada = new_user(service, email="ada@example.com")
    assert service.find_user("ADA@example.com") == ada
    with pytest.raises(NotFound):
        service.find_user("bob@example.com")
    with pytest.raises(InvalidInput):
        service.find_user("not an email")
