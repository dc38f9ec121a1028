"""Notifications from events: once per event, stored before delivery, retried on failure."""

import uuid
from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import update

from notifications.models import Base, Notification
from notifications.senders import DeliveryFailed
from notifications.service import NotificationsService
from notifications.settings import NotificationsSettings
from shop.errors import InvalidInput, NotFound
from shop.schemas import utcnow
from tests.config_yml import settings

ADA = {"id": str(uuid.uuid4()), "name": "ada", "email": "ada@example.com", "role": "user"}
ROOT = {"id": str(uuid.uuid4()), "name": "root", "email": "root@example.com", "role": "admin"}


def actor(user):
    return {"id": user["id"], "role": user["role"]}


@pytest.fixture
def service(sqlite_db):
    return worker_factory(NotificationsService, db=sqlite_db(Base),
                          settings=settings(NotificationsSettings, delivery_backoff_seconds=5))


def kinds(service, user):
    return [n["kind"] for n in service.list_notifications(actor(user))["items"]]


def test_a_new_user_is_welcomed_and_the_welcome_is_delivered(service):
    service.on_user_created(ADA)
    assert kinds(service, ADA) == ["welcome"]
    service.sender.send.assert_called_once_with(
        "ada@example.com", "Welcome to nameko-shop", "Hello ada, your account is ready.")


def test_the_same_event_twice_makes_one_notification(service):
    service.on_user_created(ADA)
    order = {"id": str(uuid.uuid4()), "user_id": ADA["id"], "total": "9.99"}
    service.on_order_placed(order)
    service.on_order_placed(order)
    service.on_order_status_changed({**order, "status": "paid"})
    service.on_order_status_changed({**order, "status": "paid"})
    service.on_order_status_changed({**order, "status": "shipped"})
    assert sorted(kinds(service, ADA)) == ["order_placed", "order_status_changed",
                                           "order_status_changed", "welcome"]


def test_a_comment_tells_the_posts_author_but_not_about_their_own(service):
    post_author = str(uuid.uuid4())
    comment = {"id": str(uuid.uuid4()), "post_id": str(uuid.uuid4()),
               "author_id": ADA["id"], "post_author_id": post_author}
    service.on_comment_added(comment)
    service.on_comment_added({**comment, "id": str(uuid.uuid4()), "author_id": post_author})
    assert kinds(service, {"id": post_author, "role": "user"}) == ["comment_added"]


def test_low_stock_tells_every_admin(service):
    service.on_user_created(ADA)
    service.on_user_created(ROOT)
    alert = {"event_id": str(uuid.uuid4()), "product_id": str(uuid.uuid4()), "name": "Lamp",
             "stock": 2, "threshold": 5}
    service.on_stock_low(alert)
    service.on_stock_low(alert)
    assert kinds(service, ROOT) == ["stock_low", "welcome"]
    assert kinds(service, ADA) == ["welcome"]


def test_a_failed_delivery_keeps_the_notification_and_is_retried(service):
    service.sender.send.side_effect = DeliveryFailed("smtp down")
    service.on_user_created(ADA)
    assert kinds(service, ADA) == ["welcome"]  # stored all the same
    stored = service.db.session.query(Notification).one()
    assert stored.delivered_at is None and stored.delivery_attempts == 1
    service.retry_deliveries()  # not due yet: backoff
    assert service.sender.send.call_count == 1
    service.db.session.execute(update(Notification).values(
        next_attempt_at=utcnow() - timedelta(seconds=1)))
    service.sender.send.side_effect = None
    service.retry_deliveries()
    assert service.sender.send.call_count == 2
    service.db.session.expire_all()  # delivery recorded it on a connection of its own
    assert service.db.session.query(Notification).one().delivered_at is not None


def test_reading_marks_only_ones_own(service):
    service.on_user_created(ADA)
    service.on_user_created(ROOT)
    mine = service.list_notifications(actor(ADA))["items"][0]
    with pytest.raises(NotFound):
        service.mark_read(mine["id"], actor=actor(ROOT))
    assert service.mark_read(mine["id"], actor=actor(ADA))["read_at"] is not None
    assert service.list_notifications(actor(ADA), unread=True)["total"] == 0
    assert service.mark_all_read(actor(ROOT)) == {"marked": 1}
    with pytest.raises(InvalidInput):
        service.list_notifications(actor(ADA), unread="maybe")


def test_a_deleted_users_notifications_go(service):
    service.on_user_created(ADA)
    service.on_user_deleted({"id": ADA["id"]})
    service.on_user_deleted({"id": ADA["id"]})
    assert kinds(service, ADA) == []


def test_every_event_delivered_twice_notifies_once(service):
    """The outbox publishes at least once: a redelivered event must change nothing."""
    service.on_user_created(ADA)
    service.on_user_created(ADA)
    order = {"id": str(uuid.uuid4()), "user_id": ADA["id"], "previous_status": "placed"}
    service.on_order_cancelled(order)
    service.on_order_cancelled(order)
    comment = {"id": str(uuid.uuid4()), "post_id": str(uuid.uuid4()),
               "author_id": str(uuid.uuid4()), "post_author_id": ADA["id"]}
    service.on_comment_added(comment)
    service.on_comment_added(comment)
    assert sorted(kinds(service, ADA)) == ["comment_added", "order_cancelled", "welcome"]
