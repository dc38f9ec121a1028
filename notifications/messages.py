"""What each event tells whom: one draft per recipient, keyed so a repeat makes no second."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Draft:
    user_id: str
    kind: str
    title: str
    body: str
    event_key: str


def welcome(user: dict) -> Draft:
    return Draft(user["id"], "welcome", "Welcome to nameko-shop",
                 f"Hello {user['name']}, your account is ready.", f"welcome:{user['id']}")


def order_placed(order: dict) -> Draft:
    return Draft(order["user_id"], "order_placed", "Order placed",
                 f"Your order {order['id']} for {order['total']} has been placed.",
                 f"order_placed:{order['id']}")


def order_cancelled(order: dict) -> Draft:
    return Draft(order["user_id"], "order_cancelled", "Order cancelled",
                 f"Your order {order['id']} has been cancelled.",
                 f"order_cancelled:{order['id']}")


def order_status_changed(order: dict) -> Draft:
    return Draft(order["user_id"], "order_status_changed", f"Order {order['status']}",
                 f"Your order {order['id']} is now {order['status']}.",
                 f"order_status:{order['id']}:{order['status']}")


def comment_added(comment: dict) -> Draft | None:
    if comment["author_id"] == comment["post_author_id"]:
        return None  # no one needs telling of their own comment
    return Draft(comment["post_author_id"], "comment_added", "New comment on your post",
                 f"Someone commented on your post {comment['post_id']}.",
                 f"comment:{comment['id']}")


def stock_low(alert: dict, admin_ids: list[str]) -> list[Draft]:
    return [Draft(admin_id, "stock_low", f"Low stock: {alert['name']}",
                  f"{alert['name']} ({alert['product_id']}) is down to {alert['stock']}.",
                  f"stock_low:{alert['event_id']}:{admin_id}")
            for admin_id in admin_ids]
