"""Invoice lines and the one place money is rounded. Pure.

Rule: every line's amount is computed exactly (Decimal, never rounded on the
way), then rounded ONCE, half-up, to the currency's minor unit (CLDR data via
Babel: USD 2 decimals, JPY 0, BHD 3). The invoice total is the sum of the
rounded lines, so the printed lines always add up to the printed total; the
difference from rounding the exact sum is at most half a minor unit per line
and is never hidden in a "rounding" line.

The unit price printed on a line is informative and kept exact (it may have
more decimals than the currency); the amount is authoritative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount: Decimal("0.01") for USD, Decimal("1") for JPY."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Line:
    description: str
    quantity: Decimal
    unit: str              # what quantity counts: "1M tokens", "month", "block", ...
    unit_price: Decimal    # exact, per unit
    exact_amount: Decimal  # before rounding (kept for audit)
    amount: Decimal        # rounded once to the minor unit


def line(description: str, quantity: Decimal | int, unit: str, unit_price: Decimal, currency: str,
         exact_amount: Decimal | None = None) -> Line:
    """A line whose amount is ``quantity * unit_price`` unless an exact amount is given
    (tiers and prorations compute it themselves), rounded once."""
    q = Decimal(quantity)
    exact = q * unit_price if exact_amount is None else exact_amount
    return Line(description, q, unit, unit_price, exact, round_money(exact, currency))


@dataclass(frozen=True, slots=True)
class Invoice:
    tenant: str
    period: str  # e.g. "2026-11"
    currency: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), round_money(Decimal(0), self.currency))


def invoice(tenant: str, period: str, currency: str, lines: Sequence[Line]) -> Invoice:
    return Invoice(tenant, period, currency, tuple(lines))
