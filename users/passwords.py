"""Password hashing with bcrypt, run on eventlet's thread pool so the hub keeps serving."""

from __future__ import annotations

import bcrypt
from eventlet import tpool
from nameko.extensions import DependencyProvider

from shop.settings import settings_of
from users.settings import UsersSettings


class Passwords:
    def __init__(self, rounds: int):
        self.rounds = rounds
        # Checked when the email is unknown, so that case costs what a wrong password does.
        self.dummy_hash = bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds)).decode()

    def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self.rounds)
        return tpool.execute(bcrypt.hashpw, password.encode(), salt).decode()

    def check(self, password: str, password_hash: str | None) -> bool:
        """True when password matches; with no hash, takes as long and returns False."""
        candidate = password.encode()
        if len(candidate) > 72:  # never a valid password; bcrypt refuses it
            candidate = candidate[:72]
            password_hash = None
        matches = tpool.execute(
            bcrypt.checkpw, candidate, (password_hash or self.dummy_hash).encode())
        return matches and password_hash is not None


class PasswordHasher(DependencyProvider):
    """Gives workers a Passwords with the configured bcrypt cost (BCRYPT_ROUNDS)."""

    def setup(self) -> None:
        self.passwords = Passwords(settings_of(self.container, UsersSettings).bcrypt_rounds)

    def get_dependency(self, worker_ctx) -> Passwords:
        return self.passwords
