"""Password hashing with bcrypt, run on eventlet's thread pool so the hub keeps serving.

bcrypt reads only the first 72 bytes of what it hashes, so a password is first reduced
to its SHA-256 (44 base64 characters, no NUL byte) and that is hashed: a password may be
of any length, and all of it counts. Such hashes are stored with PREHASHED in front;
hashes stored before, of the password itself, still check.
"""

from __future__ import annotations

import base64
import hashlib

import bcrypt
from eventlet import tpool
from nameko.extensions import DependencyProvider

from shop.settings import settings_of
from users.settings import UsersSettings

PREHASHED = "$sha256"
BCRYPT_MAX_BYTES = 72


def digest(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


class Passwords:
    def __init__(self, rounds: int):
        self.rounds = rounds
        # Checked when the email is unknown, so that case costs what a wrong password does.
        self.dummy_hash = self.hash_now("no such user")

    def hash(self, password: str) -> str:
        return tpool.execute(self.hash_now, password)

    def hash_now(self, password: str) -> str:
        return PREHASHED + bcrypt.hashpw(digest(password), bcrypt.gensalt(self.rounds)).decode()

    def check(self, password: str, password_hash: str | None) -> bool:
        """True when password matches; with no hash, takes as long and returns False."""
        known = password_hash is not None
        stored = password_hash or self.dummy_hash
        if stored.startswith(PREHASHED):
            candidate, stored = digest(password), stored[len(PREHASHED):]
        else:  # hashed before PREHASHED, as itself: then it had 72 bytes at most
            candidate = password.encode()
            known = known and len(candidate) <= BCRYPT_MAX_BYTES
            candidate = candidate[:BCRYPT_MAX_BYTES]
        matches = tpool.execute(bcrypt.checkpw, candidate, stored.encode())
        return matches and known


def is_outdated(password_hash: str) -> bool:
    """True for a hash of the password itself, as stored before PREHASHED."""
    return not password_hash.startswith(PREHASHED)


class PasswordHasher(DependencyProvider):
    """Gives workers a Passwords with the configured bcrypt cost (BCRYPT_ROUNDS)."""

    def setup(self) -> None:
        self.passwords = Passwords(settings_of(self.container, UsersSettings).bcrypt_rounds)

    def get_dependency(self, worker_ctx) -> Passwords:
        return self.passwords
