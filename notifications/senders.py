"""Delivery of notifications: to the log (the default) or by email over SMTP."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Protocol

from nameko.exceptions import ConfigurationError
from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The notification could not be delivered now; it stays stored and is retried."""


class Sender(Protocol):
    def send(self, email: str | None, title: str, body: str) -> None:
        """Delivers one notification; raises DeliveryFailed when it cannot now."""


class LogSender:
    def send(self, email: str | None, title: str, body: str) -> None:
        log.info("notification to %s: %s: %s", email or "(no email)", title, body)


class SmtpSender:
    def __init__(self, host: str, port: int, sender: str, timeout: float):
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def send(self, email: str | None, title: str, body: str) -> None:
        if not email:
            raise DeliveryFailed("no email address known for the recipient yet")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, email, title
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryFailed(f"SMTP {self.host}:{self.port}: {error}") from error


class NotificationSender(DependencyProvider):
    """The sender NOTIFICATION_SENDER names: "log", or "smtp" with SMTP_HOST, SMTP_PORT,
    SMTP_FROM and SMTP_TIMEOUT_SECONDS."""

    def setup(self) -> None:
        config = self.container.config
        kind = config.get("NOTIFICATION_SENDER", "log")
        self.sender: Sender
        if kind == "log":
            self.sender = LogSender()
        elif kind == "smtp":
            self.sender = SmtpSender(
                str(config.get("SMTP_HOST", "127.0.0.1")), int(config.get("SMTP_PORT", 25)),
                str(config.get("SMTP_FROM", "nameko-shop@localhost")),
                float(config.get("SMTP_TIMEOUT_SECONDS", 10)))
        else:
            raise ConfigurationError(f"NOTIFICATION_SENDER must be log or smtp, not {kind!r}")

    def get_dependency(self, worker_ctx):
        return self.sender
