"""Passwords: bcrypt off the eventlet hub, all of a long password counting, and the hashes
stored before (of the password itself) still checking."""

import bcrypt
import eventlet

from users.models import User
from users.passwords import Passwords


def test_hashing_does_not_stall_other_greenthreads():
    passwords = Passwords(rounds=12)  # slow enough (~0.2 s) to starve the hub if run on it
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            eventlet.sleep(0.005)

    thread = eventlet.spawn(ticker)
    eventlet.sleep(0)
    hashed = passwords.hash("correct horse")
    ticks_while_hashing = len(ticks)
    thread.kill()
    assert passwords.check("correct horse", hashed)
    assert ticks_while_hashing >= 5


def test_checking_against_no_hash_is_false():
    assert Passwords(rounds=4).check("correct horse", None) is False


def test_checking_against_no_hash_still_runs_bcrypt(monkeypatch):
    """An unknown email costs a full bcrypt check, like a wrong password does."""
    passwords = Passwords(rounds=4)
    checked = []
    real_checkpw = bcrypt.checkpw

    def checkpw(password, hashed):
        checked.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    assert passwords.check("correct horse", None) is False
    assert len(checked) == 1 and passwords.dummy_hash.endswith(checked[0].decode())


def test_all_of_a_long_password_counts():
    """bcrypt alone reads 72 bytes: these two would have been the same password."""
    passwords = Passwords(rounds=4)
    long = "x" * 72
    hashed = passwords.hash(long + "the rest")
    assert passwords.check(long + "the rest", hashed)
    assert not passwords.check(long + "another rest", hashed)
    assert not passwords.check(long, hashed)


def test_a_hash_fits_its_column():
    assert len(Passwords(rounds=4).hash("é" * 1024)) <= User.password_hash.type.length


def test_a_hash_stored_before_of_the_password_itself_still_checks():
    old_hash = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    passwords = Passwords(rounds=4)
    assert passwords.check("correct horse", old_hash)
    assert not passwords.check("wrong horse", old_hash)
    # Such a hash read 72 bytes at most: a longer password never matched it.
    assert not passwords.check("x" * 80, bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(4)).decode())
