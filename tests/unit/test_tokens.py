"""Token checks the gateway relies on: pinned algorithm, expiry, issuer, audience."""

import time

import jwt
import pytest
from nameko.exceptions import ConfigurationError

from shop.errors import Unauthorized
from shop.tokens import Tokens
from tests.conftest import TEST_JWT_SECRET

TOKENS = Tokens(TEST_JWT_SECRET, "HS256", "nameko-shop", "nameko-shop-api", 3600)


def claims(**overrides):
    now = int(time.time())
    return {"sub": "u1", "role": "user", "iat": now, "exp": now + 60,
            "iss": "nameko-shop", "aud": "nameko-shop-api", **overrides}


def test_an_issued_token_verifies():
    assert TOKENS.verify(TOKENS.issue("u1", "admin"))["role"] == "admin"


def test_alg_none_is_rejected():
    token = jwt.encode(claims(), "", algorithm="none")
    with pytest.raises(Unauthorized):
        TOKENS.verify(token)


def test_another_hmac_algorithm_is_rejected():
    with pytest.raises(Unauthorized):
        TOKENS.verify(jwt.encode(claims(), TEST_JWT_SECRET, algorithm="HS512"))


def test_tampered_token_is_rejected():
    header, payload, signature = TOKENS.issue("u1", "user").split(".")
    forged = jwt.encode(claims(role="admin"), "another secret of enough length 0123456789")
    with pytest.raises(Unauthorized):
        TOKENS.verify(".".join([header, forged.split(".")[1], signature]))


@pytest.mark.parametrize("override", [
    {"exp": int(time.time()) - 10},
    {"iss": "someone-else"},
    {"aud": "another-api"},
    {"role": "root"},
])
def test_expired_or_foreign_tokens_are_rejected(override):
    with pytest.raises(Unauthorized):
        TOKENS.verify(jwt.encode(claims(**override), TEST_JWT_SECRET, algorithm="HS256"))


@pytest.mark.parametrize("secret", ["short", "a" * 64, "please-change-me-0123456789-abcdefghijk"])
def test_a_weak_secret_is_refused_at_start_up(secret):
    with pytest.raises(ConfigurationError, match="weak"):
        Tokens.from_config({"JWT_SECRET": secret})
    assert Tokens.from_config({"JWT_SECRET": secret, "ALLOW_WEAK_JWT_SECRET": True})


def test_production_demands_a_secret_of_its_own(tmp_path):
    generated = tmp_path / "jwt_secret"
    generated.write_text(TEST_JWT_SECRET)
    assert Tokens.from_config({"JWT_SECRET_FILE": str(generated)})
    with pytest.raises(ConfigurationError, match="production"):
        Tokens.from_config({"JWT_SECRET_FILE": str(generated), "APP_ENV": "production"})
