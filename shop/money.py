"""Money: Decimal amounts with at most two places, taken as JSON strings or numbers and
always given back as strings like "19.99"."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields

MAX_AMOUNT = Decimal("1000000")
CENT = Decimal("0.01")


def cents(amount: Decimal | str) -> int:
    """Whole cents of an amount: how the services store money, exact on any database."""
    return int((Decimal(amount) / CENT).to_integral_value())


def from_cents(count: int) -> Decimal:
    return Decimal(count) * CENT


# Amounts as a client writes them, and as the OpenAPI document states them: up to
# 1 000 000, at most two decimal places, no sign, exponent, padding or leading zero.
POSITIVE_AMOUNT = (r"^(?:[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|1000000(?:\.00?)?"
                   r"|0\.(?:0[1-9]|[1-9][0-9]?))$")
AMOUNT_OR_ZERO = r"^(?:(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,2})?|1000000(?:\.00?)?)$"


class Money(fields.Field[Decimal]):
    """A positive amount (or zero, with allow_zero): a string such as "19.99", or a whole
    number. A JSON number with a fraction is refused: binary floats cannot hold cents."""

    def __init__(self, allow_zero: bool = False, **kwargs: Any) -> None:
        self.allow_zero = allow_zero
        self.pattern = re.compile(AMOUNT_OR_ZERO if allow_zero else POSITIVE_AMOUNT)
        self.lowest = 0 if allow_zero else 1  # of a whole number
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 5.0 is a whole number to JSON Schema too
        if isinstance(value, int) and not isinstance(value, bool):
            if not self.lowest <= value <= MAX_AMOUNT:
                raise ValidationError(f"Must be between {self.lowest} and {MAX_AMOUNT}.")
            return Decimal(value).quantize(CENT)
        if not isinstance(value, str):
            raise ValidationError('Must be an amount: a string such as "19.99", '
                                  'or a whole number.')
        if self.pattern.fullmatch(value) is None:
            lowest = "0" if self.allow_zero else "0.01"
            raise ValidationError(f'Must be an amount from {lowest} to {MAX_AMOUNT} with at '
                                  f'most two decimal places, such as "19.99".')
        return Decimal(value).quantize(CENT)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(Decimal(value).quantize(CENT))

    def documented(self) -> dict[str, Any]:
        """The JSON Schema of what _deserialize accepts."""
        return {"anyOf": [{"type": "string", "pattern": self.pattern.pattern},
                          {"type": "integer", "minimum": self.lowest,
                           "maximum": int(MAX_AMOUNT)}],
                "description": "An amount: a string with at most two decimal places, "
                               "or a whole number."}


class Cents(fields.Field[int]):
    """An amount stored as whole cents, given out like Money: "19.99"."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(from_cents(value))
