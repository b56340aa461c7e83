"""Tiered and package pricing over a period's quantity. Pure Decimal; no rounding here.

Quantities are whole units (tokens, requests). Prices are per ``unit_size``
units (LLM prices are quoted per 1,000,000 tokens), so a charge is
``units * price / unit_size``: exact in Decimal because prices carry at most
6 decimals (see pricing.models).

Tier bounds are inclusive upper bounds on the running quantity: with bounds
1,000 and None, units 1..1,000 are in the first tier and 1,001.. in the second.

- **graduated**: each unit is charged at the price of the tier it falls in
  (a tier's flat fee is charged once when any unit reaches it);
- **volume**: every unit is charged at the price of the tier the *total* falls
  in (plus that tier's flat fee); a quantity of 0 costs nothing;
- **package**: units are sold in blocks, rounded up: 1 unit buys a whole block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tokenmeter.pricing.errors import PriceBookError

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: int | None  # inclusive upper bound of the running quantity; None: no bound (last tier)
    unit_price: Decimal  # per unit_size units
    flat_fee: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class TierCharge:
    """What one tier contributed: ``units`` at ``unit_price``, plus its flat fee if reached."""

    tier: int  # index into the tiers
    units: int
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


def validate_tiers(tiers: Sequence[Tier]) -> None:
    """Raise ``PriceBookError`` unless bounds strictly increase and only the last tier is open."""
    if not tiers:
        raise PriceBookError("at least one tier is required")
    previous = 0
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if tier.up_to is None and not last:
            raise PriceBookError(f"tier {i + 1}: only the last tier may be open-ended")
        if tier.up_to is not None and tier.up_to <= previous:
            raise PriceBookError(f"tier {i + 1}: bound {tier.up_to} must be above {previous}")
        if tier.unit_price < 0 or tier.flat_fee < 0:
            raise PriceBookError(f"tier {i + 1}: prices must not be negative")
        previous = tier.up_to or previous
    if tiers[-1].up_to is not None:
        raise PriceBookError("the last tier must be open-ended (up_to: null)")


def graduated(quantity: int, tiers: Sequence[Tier], unit_size: int = 1) -> list[TierCharge]:
    """Charges of every tier the quantity reaches, in tier order."""
    validate_tiers(tiers)
    charges = []
    floor = 0
    for i, tier in enumerate(tiers):
        if quantity <= floor:
            break
        ceiling = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = ceiling - floor
        amount = units * tier.unit_price / unit_size + tier.flat_fee
        charges.append(TierCharge(i, units, tier.unit_price, tier.flat_fee, amount))
        floor = ceiling
    return charges


def volume(quantity: int, tiers: Sequence[Tier], unit_size: int = 1) -> TierCharge | None:
    """The single charge for ``quantity``; None for a quantity of 0."""
    validate_tiers(tiers)
    if quantity <= 0:
        return None
    for i, tier in enumerate(tiers):
        if tier.up_to is None or quantity <= tier.up_to:
            return TierCharge(i, quantity, tier.unit_price, tier.flat_fee,
                              quantity * tier.unit_price / unit_size + tier.flat_fee)
    raise AssertionError("validated tiers end open-ended")  # pragma: no cover


def package(quantity: int, block_units: int, block_price: Decimal) -> tuple[int, Decimal]:
    """(blocks bought, amount): ``ceil(quantity / block_units)`` blocks at ``block_price`` each."""
    if block_units <= 0:
        raise PriceBookError(f"a package must hold at least one unit, got {block_units}")
    blocks = -(-max(quantity, 0) // block_units)
    return blocks, blocks * block_price
