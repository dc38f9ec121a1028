"""The notifications service: event handlers and RPC methods. Run with
`nameko run --config config.yml notifications.service`.

Notifications are made from events only. Each is stored first, then delivered; a failed
delivery is retried with backoff and never loses the stored notification. The same event
delivered twice makes one notification.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update

from contracts.notifications import NotificationQuerySchema, NotificationSchema
from notifications import messages
from notifications.messages import Draft
from notifications.models import Answers, Base, Notification, Recipient
from notifications.senders import DeliveryFailed, NotificationSender
from notifications.settings import NotificationsSettings
from shop import health
from shop.database import Database, fetch_page, insert_unless_present
from shop.entrypoints import rpc_method
from shop.idempotency import IdempotentAnswers, idempotent
from shop.metrics import NOTIFICATION_DELIVERIES
from shop.redelivery import event_handler
from shop.schemas import load, load_author, no_such, utcnow
from shop.settings import SettingsProvider
from shop.timers import every

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 10
# A delivery under way holds its notification this long, so the retry timer (in this or
# another replica) does not send it a second time; after a crash it is retried then.
DELIVERY_LEASE_SECONDS = 60
EMAIL_OF = select(Recipient.email).where(Recipient.id == bindparam("user_id"))


class NotificationsService(health.DatabaseHealth):
    name = "notifications"

    db = Database(Base)
    answers = IdempotentAnswers(Answers)
    sender = NotificationSender()
    settings = SettingsProvider(NotificationsSettings)

    # --- what users are: kept from the users service's events ----------------------

    @event_handler("users", "user_created")
    def on_user_created(self, user: dict) -> None:
        self._remember(user)
        self._notify([messages.welcome(user)])

    @event_handler("users", "user_updated")
    def on_user_updated(self, user: dict) -> None:
        self._remember(user)

    @event_handler("users", "user_deleted")
    def on_user_deleted(self, user: dict) -> None:
        session = self.db.session
        session.execute(delete(Notification).where(Notification.user_id == user["id"]))
        session.execute(delete(Recipient).where(Recipient.id == user["id"]))
        session.commit()

    # --- what happened -------------------------------------------------------------

    @event_handler("orders", "order_placed")
    def on_order_placed(self, order: dict) -> None:
        self._notify([messages.order_placed(order)])

    @event_handler("orders", "order_cancelled")
    def on_order_cancelled(self, order: dict) -> None:
        self._notify([messages.order_cancelled(order)])

    @event_handler("orders", "order_status_changed")
    def on_order_status_changed(self, order: dict) -> None:
        self._notify([messages.order_status_changed(order)])

    @event_handler("posts", "comment_added")
    def on_comment_added(self, comment: dict) -> None:
        self._notify([draft for draft in [messages.comment_added(comment)] if draft])

    @event_handler("products", "stock_low")
    def on_stock_low(self, alert: dict) -> None:
        admins = list(self.db.session.scalars(select(Recipient.id).where(
            Recipient.role == "admin")))
        self._notify(messages.stock_low(alert, admins))

    # --- reading them --------------------------------------------------------------

    @rpc_method
    def list_notifications(self, actor: dict, unread: bool = False, page: int = 1,
                           limit: int = 20) -> dict:
        """Returns a page of actor's notifications, newest first (unread=True: unread only)."""
        user = load_author(actor)
        query = load(NotificationQuerySchema(), {"unread": unread, "page": page, "limit": limit})
        matching = select(Notification).where(Notification.user_id == user["id"])
        if query["unread"]:
            matching = matching.where(Notification.read_at.is_(None))
        return fetch_page(self.db.session, matching,
                          (Notification.created_at.desc(), Notification.id), query,
                          NotificationSchema)

    @rpc_method
    @idempotent
    def mark_read(self, notification_id: str, actor: dict) -> dict:
        """Marks one of actor's notifications read (someone else's: NotFound)."""
        user = load_author(actor)
        notification = self.db.get(Notification, notification_id, "notification")
        if notification.user_id != user["id"]:
            raise no_such("notification", notification_id)
        if notification.read_at is None:
            notification.read_at = utcnow()
        return NotificationSchema().dump(notification)

    @rpc_method
    @idempotent
    def mark_all_read(self, actor: dict) -> dict:
        """Marks all of actor's notifications read; returns {"marked": count}."""
        user = load_author(actor)
        marked = self.db.session.execute(
            update(Notification)
            .where(Notification.user_id == user["id"], Notification.read_at.is_(None))
            .values(read_at=utcnow()))
        return {"marked": marked.rowcount}

    # --- delivery ------------------------------------------------------------------

    @every(NotificationsSettings, "delivery_retry_seconds")
    def retry_deliveries(self) -> None:
        """Tries again the notifications whose delivery failed, when their turn comes."""
        due = self.db.session.scalars(select(Notification).where(
            Notification.delivered_at.is_(None),
            Notification.delivery_attempts < MAX_DELIVERY_ATTEMPTS,
            Notification.next_attempt_at <= utcnow()).limit(100)).all()
        for notification in due:
            if self._claim(notification):
                self._deliver(notification.id, notification.delivery_attempts,
                              self._email_of(notification.user_id), notification.title,
                              notification.body)

    def _claim(self, notification: Notification) -> bool:
        """Takes the lease on a due notification; False if someone else holds it."""
        claimed = self.db.session.execute(
            update(Notification)
            .where(Notification.id == notification.id, Notification.delivered_at.is_(None),
                   Notification.next_attempt_at <= utcnow())
            .values(next_attempt_at=utcnow() + timedelta(seconds=DELIVERY_LEASE_SECONDS)))
        self.db.session.commit()
        return claimed.rowcount == 1

    def _notify(self, drafts: list[Draft]) -> None:
        """Stores each draft, then delivers it. Every event of the shop passes here, so
        plain Core statements, each its own transaction: the unique event key decides
        whether this delivery of the event is the first."""
        for draft in drafts:
            now = utcnow()
            notification_id = str(uuid.uuid4())
            with self.db.autocommit.connect() as connection:
                stored = connection.execute(
                    insert_unless_present(connection, Notification), {
                        "id": notification_id, "user_id": draft.user_id, "kind": draft.kind,
                        "title": draft.title, "body": draft.body,
                        "event_key": draft.event_key, "created_at": now,
                        "delivery_attempts": 0,
                        "next_attempt_at": now + timedelta(seconds=DELIVERY_LEASE_SECONDS),
                    }).rowcount
            if stored:  # else the same event made its notification before
                self._deliver(notification_id, 0, self._email_of(draft.user_id), draft.title,
                              draft.body)

    def _email_of(self, user_id: str) -> str | None:
        recipient = self.db.first(EMAIL_OF, user_id=user_id)
        return recipient.email if recipient else None

    def _deliver(self, notification_id: str, attempts_before: int, email: str | None,
                 title: str, body: str) -> None:
        attempts = attempts_before + 1
        try:
            self.sender.send(email, title, body)
        except DeliveryFailed as error:
            first_wait = self.settings.delivery_backoff_seconds
            outcome = {"next_attempt_at": utcnow() + timedelta(
                seconds=first_wait * 2 ** (attempts - 1))}
            log.warning("delivery of notification %s failed (attempt %d): %s",
                        notification_id, attempts, error)
            NOTIFICATION_DELIVERIES.labels("failed").inc()
        else:
            outcome = {"delivered_at": utcnow()}
            NOTIFICATION_DELIVERIES.labels("delivered").inc()
        with self.db.autocommit.connect() as connection:
            connection.execute(update(Notification).where(Notification.id == notification_id)
                               .values(delivery_attempts=attempts, **outcome))

    def _remember(self, user: dict) -> None:
        session = self.db.session
        recipient = session.get(Recipient, user["id"]) or Recipient(id=user["id"])
        recipient.name, recipient.email, recipient.role = user["name"], user["email"], user["role"]
        session.merge(recipient)
        session.commit()
