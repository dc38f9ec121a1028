"""Reading the caller from a request: the bearer token, and who was revoked lately."""

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.auth import RecentRevocations, bearer_token
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


def test_a_recent_revocation_lasts_its_time_and_no_longer(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("gateway.auth.time.monotonic", lambda: now[0])
    recent = RecentRevocations()
    recent.add("ada", 60)
    assert "ada" in recent and "bob" not in recent
    now[0] += 61
    assert "ada" not in recent
    recent.add("bob", 60)  # expired entries are dropped as new ones come
    assert recent._until.keys() == {"bob"}
