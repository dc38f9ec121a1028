"""Notifications by email, delivered to a real SMTP server (aiosmtpd) the test runs."""

import mailbox
import socket
import subprocess
import sys
import time
import uuid

import eventlet
import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import find_free_port

from notifications.service import NotificationsService

USER = {"id": str(uuid.uuid4()), "name": "ada", "email": "ada@example.com", "role": "user"}


class SmtpServer:
    """aiosmtpd in a child process, storing what it receives in a maildir."""

    def __init__(self, maildir):
        self.port = find_free_port()
        self.maildir = maildir
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("aiosmtpd did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def messages(self):
        if not self.maildir.exists():
            return []
        return list(mailbox.Maildir(str(self.maildir), create=False))


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path / "maildir")
    yield server
    server.stop()


@pytest.fixture
def emailing(container_factory, config, smtp):
    settings = {**config, "NOTIFICATION_SENDER": "smtp", "SMTP_PORT": smtp.port,
                "SMTP_FROM": "shop@example.com", "SMTP_TIMEOUT_SECONDS": 2,
                "DELIVERY_RETRY_SECONDS": 0.2, "DELIVERY_BACKOFF_SECONDS": 0.1}
    container_factory(NotificationsService, settings).start()
    return settings


def wait_for(check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        eventlet.sleep(0.05)
    return check()


def test_a_welcome_is_emailed_to_the_new_user(emailing, smtp):
    smtp.start()
    event_dispatcher(emailing)("users", "user_created", USER)
    assert wait_for(lambda: len(smtp.messages()) == 1)
    (message,) = smtp.messages()
    assert message["To"] == "ada@example.com" and message["From"] == "shop@example.com"
    assert message["Subject"] == "Welcome to nameko-shop"
    assert "Hello ada" in message.get_payload()


def test_a_failed_delivery_is_kept_and_retried_until_it_goes_through(emailing, smtp):
    dispatch = event_dispatcher(emailing)
    dispatch("users", "user_created", USER)  # no SMTP server yet: delivery fails
    actor = {"id": USER["id"], "role": "user"}
    with ClusterRpcProxy(emailing) as n:
        assert wait_for(lambda: n.notifications.list_notifications(actor)["total"] == 1)
    eventlet.sleep(0.3)
    smtp.start()
    assert wait_for(lambda: len(smtp.messages()) == 1)
    eventlet.sleep(0.5)
    assert len(smtp.messages()) == 1  # delivered once, not again
