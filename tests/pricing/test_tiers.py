"""Tier arithmetic against a brute-force reference, and the documented boundary semantics."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenmeter.pricing.errors import PriceBookError
from tokenmeter.pricing.tiers import Tier, graduated, package, validate_tiers, volume

D = Decimal
PRICES = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False, allow_infinity=False)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[Tier]:
    bounds = sorted(draw(st.sets(st.integers(1, 400), max_size=4)))
    fees = st.sampled_from([D(0), D(0), D("5"), D("0.25")])
    tiers = [Tier(b, draw(PRICES), draw(fees)) for b in bounds]
    return [*tiers, Tier(None, draw(PRICES), draw(fees))]


def tier_of(unit: int, tiers: list[Tier]) -> int:
    """1-based unit -> index of its tier, by scanning the bounds."""
    return next(i for i, t in enumerate(tiers) if t.up_to is None or unit <= t.up_to)


@given(st.integers(0, 600), tier_lists())
def test_graduated_equals_charging_every_unit_at_its_own_tier(quantity: int, tiers: list[Tier]) -> None:
    reached = {tier_of(u, tiers) for u in range(1, quantity + 1)}
    brute = sum((tiers[tier_of(u, tiers)].unit_price for u in range(1, quantity + 1)), D(0)) + sum(
        (tiers[i].flat_fee for i in reached), D(0))
    charges = graduated(quantity, tiers)
    assert sum((c.amount for c in charges), D(0)) == brute
    assert sum(c.units for c in charges) == quantity


@given(st.integers(0, 600), tier_lists())
def test_volume_charges_every_unit_at_the_tier_of_the_total(quantity: int, tiers: list[Tier]) -> None:
    charge = volume(quantity, tiers)
    if quantity == 0:
        assert charge is None
        return
    t = tiers[tier_of(quantity, tiers)]
    assert charge is not None
    assert charge.amount == sum((t.unit_price for _ in range(quantity)), D(0)) + t.flat_fee


TIERS = [Tier(1_000_000, D("3")), Tier(10_000_000, D("2.5")), Tier(None, D("2"))]  # per 1M tokens


@pytest.mark.parametrize(("tokens", "graduated_total", "volume_total"), [
    (0, D("0"), None),
    (1_000_000, D("3"), D("3")),
    (1_000_001, D("3.0000025"), D("2.5000025")),       # the boundary unit moves into tier 2
    (12_500_000, D("3") + D("22.5") + D("5"), D("25")),  # 1M@3 + 9M@2.5 + 2.5M@2 vs 12.5M@2
])
def test_worked_examples_per_million_tokens(tokens: int, graduated_total: Decimal,
                                            volume_total: Decimal | None) -> None:
    assert sum((c.amount for c in graduated(tokens, TIERS, 1_000_000)), D(0)) == graduated_total
    v = volume(tokens, TIERS, 1_000_000)
    assert (v.amount if v else None) == volume_total


@pytest.mark.parametrize(("quantity", "blocks", "amount"), [
    (0, 0, D("0")), (1, 1, D("10")), (1_000_000, 1, D("10")), (1_000_001, 2, D("20")),
])
def test_package_rounds_up_per_block(quantity: int, blocks: int, amount: Decimal) -> None:
    assert package(quantity, 1_000_000, D("10")) == (blocks, amount)


@pytest.mark.parametrize(("tiers", "message"), [
    ([], "at least one tier"),
    ([Tier(None, D(1)), Tier(None, D(1))], "only the last tier may be open-ended"),
    ([Tier(10, D(1)), Tier(10, D(1)), Tier(None, D(1))], "bound 10 must be above 10"),
    ([Tier(10, D(1))], "must be open-ended"),
    ([Tier(None, D(-1))], "must not be negative"),
])
def test_invalid_tiers_are_refused_with_the_reason(tiers: list[Tier], message: str) -> None:
    with pytest.raises(PriceBookError, match=message):
        validate_tiers(tiers)
    with pytest.raises(PriceBookError, match="at least one unit"):
        package(5, 0, D(1))
