"""Delivery of notifications: to the log (the default) or by email over SMTP."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Protocol

from nameko.extensions import DependencyProvider

from notifications.settings import NotificationsSettings
from shop.settings import settings_of

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
        settings = settings_of(self.container, NotificationsSettings)
        self.sender: Sender = LogSender()
        if settings.notification_sender == "smtp":
            self.sender = SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_from,
                                     settings.smtp_timeout_seconds)

    def get_dependency(self, worker_ctx):
        return self.sender
