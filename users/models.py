"""The users service's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shop.idempotency import answers_table
from shop.outbox import outbox_table
from shop.schemas import utcnow


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True,
                                    default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(50))
    # Stored lower-cased, so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="user")
    password_hash: Mapped[str] = mapped_column(String(100))  # users/passwords.py
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


# Events leave through it, written in the transaction of the change (shop/outbox.py).
Outbox = outbox_table(Base.metadata)
# Answers to writes sent with an Idempotency-Key, kept with the write (shop/idempotency.py).
Answers = answers_table(Base.metadata)

# "Ada" and "ada" are the same name: no one may pass for another by changing case.
Index("uq_users_name_lower", func.lower(User.name), unique=True)
