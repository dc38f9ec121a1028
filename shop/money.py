"""Money: Decimal amounts with at most two places, taken as JSON strings or numbers and
always given back as strings like "19.99"."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields

MAX_AMOUNT = Decimal("1000000")
CENT = Decimal("0.01")


def cents(amount: Decimal | str) -> int:
    """Whole cents of an amount: how the services store money, exact on any database."""
    return int((Decimal(amount) / CENT).to_integral_value())


def from_cents(count: int) -> Decimal:
    return Decimal(count) * CENT


class Money(fields.Field[Decimal]):
    """A positive amount (or zero, with allow_zero) of at most two decimal places."""

    def __init__(self, allow_zero: bool = False, **kwargs: Any) -> None:
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("Must be an amount, as a string or a number.")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("Not a valid amount.") from None
        exponent = amount.as_tuple().exponent
        if not isinstance(exponent, int):  # a letter: NaN or Infinity
            raise ValidationError("Not a valid amount.")
        if exponent < -2:
            raise ValidationError("At most two decimal places.")
        lowest = Decimal(0) if self.allow_zero else Decimal("0.01")
        if not lowest <= amount <= MAX_AMOUNT:
            raise ValidationError(f"Must be between {lowest} and {MAX_AMOUNT}.")
        return amount.quantize(Decimal("0.01"))

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


class Cents(fields.Field[int]):
    """An amount stored as whole cents, given out like Money: "19.99"."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(from_cents(value))
