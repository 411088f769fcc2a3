"""Money: commercetools' integer cents -> exact decimals -> JSON numbers without float drift."""

from __future__ import annotations

from decimal import Decimal

from ctsync.commercetools._models import Money
from ctsync.mapping._common import UnmappableError

_LIMIT = Decimal(10) ** 15  # 15 significant digits print back exactly from a float

__all__ = ["amount", "as_number"]


def amount(money: Money | None) -> Decimal | None:
    """The exact amount (centAmount scaled by fractionDigits), or None without money."""
    if money is None:
        return None
    return Decimal(money.centAmount).scaleb(-money.fractionDigits)


def as_number(value: Decimal) -> int | float:
    """The JSON number for an exact amount: an int when whole, else the float that prints it.

    All arithmetic happens on Decimals; the one conversion to float at the end
    gives the shortest repr that round-trips, so 1999 cents print as 19.99
    (never 19.990000000000002) for any amount under 15 significant digits.
    """
    if not value.is_finite() or abs(value) >= _LIMIT:
        msg = f"an amount of {value:.3e} is beyond what a JSON number carries exactly"
        raise UnmappableError(msg)
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    if Decimal(repr(number)) != value:  # more significant digits than a float keeps
        msg = f"the amount {value} is beyond what a JSON number carries exactly"
        raise UnmappableError(msg)
    return number
