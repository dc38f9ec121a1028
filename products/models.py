"""The products service's tables. Prices are whole cents: exact on every database."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shop.idempotency import answers_table
from shop.money import cents, from_cents
from shop.outbox import outbox_table
from shop.schemas import utcnow


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="ck_products_stock_not_negative"),
        CheckConstraint("price_cents > 0", name="ck_products_price_positive"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True,
                                    default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(50), index=True)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)  # on sale
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # Deleted while orders refer to it: kept for them, gone for everything else (an
    # admin can take a product off sale and back, not undo a delete).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, default=None)

    @property
    def price(self) -> Decimal:
        return from_cents(self.price_cents)

    @price.setter
    def price(self, amount: Decimal) -> None:
        self.price_cents = cents(amount)


class Reservation(Base):
    """The stock one order took: `taken`, or `released` once given back. A release that
    finds nothing taken leaves a `released` row too, so a take that arrives late (still
    queued when its order gave up) is refused instead of holding stock for no order."""

    __tablename__ = "reservations"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="taken")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    items: Mapped[list[ReservationItem]] = relationship(lazy="selectin")


class ReservationItem(Base):
    __tablename__ = "reservation_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("reservations.order_id"))
    product_id: Mapped[str] = mapped_column(String(36), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)

    @property
    def unit_price(self) -> Decimal:
        return from_cents(self.unit_price_cents)


Index("ix_products_price", Product.price_cents)

# Events leave through it, written in the transaction of the change (shop/outbox.py).
Outbox = outbox_table(Base.metadata)
# Answers to writes sent with an Idempotency-Key, kept with the write (shop/idempotency.py).
Answers = answers_table(Base.metadata)
