"""bcrypt runs off the eventlet hub: other greenthreads keep running while it hashes."""

import eventlet

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
    import bcrypt
    passwords = Passwords(rounds=4)
    checked = []
    real_checkpw = bcrypt.checkpw

    def checkpw(password, hashed):
        checked.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    assert passwords.check("correct horse", None) is False
    assert checked == [passwords.dummy_hash.encode()]
