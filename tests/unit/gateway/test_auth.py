"""Reading the caller from a request: the bearer token, and who was revoked lately."""

from datetime import UTC, datetime

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.auth import DELETED, AccountChange, RecentChanges, bearer_token, change_of
from shop.errors import Unauthorized


def request(authorization=None):
    headers = [] if authorization is None else [("Authorization", authorization)]
    return Request(EnvironBuilder(headers=headers).get_environ())


def test_no_authorization_header_is_an_anonymous_caller():
    assert bearer_token(request()) is None


@pytest.mark.parametrize("header", ["Bearer abc.def.ghi", "bearer abc.def.ghi",
                                    "Bearer   abc.def.ghi  "])
def test_a_bearer_token_is_read_whatever_the_case_of_the_scheme(header):
    assert bearer_token(request(header)) == "abc.def.ghi"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer  ", "abc.def.ghi",
                                    ""])
def test_any_other_authorization_is_refused_with_how_to_send_it(header):
    with pytest.raises(Unauthorized, match="Bearer"):
        bearer_token(request(header))


def claims(iat, role="admin"):
    return {"sub": "ada", "role": role, "iat": iat}


def test_tokens_issued_before_a_password_change_are_refused_later_ones_kept():
    change = AccountChange(valid_after=1000.5)
    with pytest.raises(Unauthorized, match="password was changed"):
        change.applied_to(claims(1000.499))
    assert change.applied_to(claims(1000.5)) == {"id": "ada", "role": "admin"}


def test_after_a_role_change_a_token_acts_with_the_current_role():
    assert AccountChange(role="user").applied_to(claims(5)) == {"id": "ada", "role": "user"}


def test_no_token_outlives_a_deleted_account():
    with pytest.raises(Unauthorized, match="deleted"):
        AccountChange(DELETED).applied_to(claims(10 ** 12))


def test_changes_merge_to_the_latest_instant_and_the_newest_role():
    merged = AccountChange(50.0, "admin").merged(AccountChange(40.0, "user"))
    assert merged == AccountChange(50.0, "user")
    assert AccountChange(50.0, "admin").merged(AccountChange(60.0)) == AccountChange(60.0,
                                                                                     "admin")


def test_an_older_role_change_heard_late_never_overrides_a_newer_one():
    promoted, demoted = AccountChange(role="admin", role_at=10.0), AccountChange(0.0, "user", 20.0)
    assert promoted.merged(demoted).role == "user"
    assert demoted.merged(promoted).role == "user"  # the promotion's event came last
    assert demoted.merged(AccountChange(30.0)) == AccountChange(30.0, "user", 20.0)


def test_only_password_and_role_changes_touch_tokens():
    event = {"id": "ada", "role": "user", "updated_at": "2026-11-22T10:00:00.250000+00:00"}
    assert change_of({**event, "changed": ["name", "email"]}) is None
    at = datetime(2026, 11, 22, 10, 0, 0, 250000, UTC).timestamp()
    assert change_of({**event, "changed": ["role"]}) == AccountChange(0.0, "user", at)
    password = change_of({**event, "changed": ["password"]})
    assert password is not None and password.role is None
    assert password.valid_after == datetime(2026, 11, 22, 10, 0, 0, 250000, UTC).timestamp()


def test_a_recent_change_lasts_its_time_and_no_longer(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("gateway.auth.time.monotonic", lambda: now[0])
    recent = RecentChanges()
    recent.add("ada", AccountChange(role="user"), 60)
    assert recent.get("ada") == AccountChange(role="user") and recent.get("bob") is None
    now[0] += 61
    assert recent.get("ada") is None
