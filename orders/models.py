"""The orders service's tables. Amounts are whole cents: exact on every database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shop.idempotency import answers_table
from shop.money import from_cents
from shop.outbox import outbox_table
from shop.schemas import utcnow


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("user_id", "idempotency_key",
                                       name="uq_orders_user_idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="placed")
    # 50 lines of up to 1000 at up to 1 000 000.00: past a 32-bit integer.
    total_cents: Mapped[int] = mapped_column(BigInteger)
    shipping_address: Mapped[dict] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    # False while a cancelled order's stock has yet to be given back (retried by a timer).
    stock_released: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    items: Mapped[list[OrderItem]] = relationship(lazy="selectin", cascade="all, delete-orphan")

    @property
    def total(self) -> Decimal:
        return from_cents(self.total_cents)


class OrderItem(Base):
    __tablename__ = "order_items"
    # One line per product (the request merges them), so a replay adds no second one.
    __table_args__ = (UniqueConstraint("order_id", "product_id",
                                       name="uq_order_items_order_product"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)

    @property
    def unit_price(self) -> Decimal:
        return from_cents(self.unit_price_cents)

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


Index("ix_orders_user_created", Order.user_id, Order.created_at.desc())
Index("ix_orders_status", Order.status)

# Events leave through it, written in the transaction of the change (shop/outbox.py).
Outbox = outbox_table(Base.metadata)
# Answers to writes sent with an Idempotency-Key, kept with the write (shop/idempotency.py).
Answers = answers_table(Base.metadata)
