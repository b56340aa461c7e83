"""Rounding happens once per line, half-up to the minor unit; the total is the sum of rounded lines."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenmeter.pricing.invoice import invoice, line, minor_unit, round_money

D = Decimal


@pytest.mark.parametrize(("currency", "unit"), [("USD", D("0.01")), ("EUR", D("0.01")), ("JPY", D("1")),
                                                ("BHD", D("0.001"))])
def test_minor_units_come_from_cldr(currency: str, unit: Decimal) -> None:
    assert minor_unit(currency) == unit


@pytest.mark.parametrize(("amount", "currency", "rounded"), [
    (D("0.005"), "USD", D("0.01")),      # half-up, not banker's
    (D("0.015"), "USD", D("0.02")),
    (D("0.0049999"), "USD", D("0.00")),
    (D("2.5"), "JPY", D("3")),
    (D("-0.005"), "USD", D("-0.01")),    # credits round away from zero too
])
def test_half_up(amount: Decimal, currency: str, rounded: Decimal) -> None:
    assert round_money(amount, currency) == rounded


def test_a_line_keeps_the_exact_amount_and_rounds_once() -> None:
    ln = line("gpt-4o input", D("1.234567"), "1M tokens", D("2.5"), "USD")
    assert (ln.exact_amount, ln.amount) == (D("3.0864175"), D("3.09"))


amounts = st.lists(st.decimals(min_value=-1000, max_value=100_000, places=9, allow_nan=False,
                               allow_infinity=False), min_size=1, max_size=30)


@given(amounts)
def test_total_is_the_sum_of_rounded_lines_and_within_half_a_cent_per_line(values: list[Decimal]) -> None:
    lines = [line(f"l{i}", 1, "unit", v, "USD") for i, v in enumerate(values)]
    inv = invoice("acme", "2026-11", "USD", lines)
    assert inv.total == sum((ln.amount for ln in lines), D(0))
    assert inv.total == inv.total.quantize(D("0.01"))
    assert abs(inv.total - sum(values, D(0))) <= D("0.005") * len(values)
