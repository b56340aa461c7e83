"""List-price rating of window quantities. Pure Decimal arithmetic; exact, never rounded here.

Rounding to a currency's minor unit happens once, on invoice lines (DESIGN.md);
window money is stored exactly in Decimal(38, 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, Decimal, localcontext

from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.pricing.models import MILLION, ModelPrice, Rated

_ZERO = Decimal(0)
# 38 significant digits: the widest money column, so no product is ever rounded.
_EXACT = Context(prec=38)
UNKNOWN_CURRENCY = "XXX"  # ISO 4217 code for "no currency": usage of an unpriced model


def rate(quantities: Sequence[int], requests: int, price: ModelPrice | None) -> Rated:
    """Money for token ``quantities`` (``TOKEN_CLASSES`` order) and ``requests`` at list ``price``.

    With no price at all, every cost is zero, the currency is ``XXX`` and
    ``unpriced`` is true. A class with tokens but no price in the model also
    sets ``unpriced`` and costs zero: the quantities are still stored, so the
    usage can be re-rated once a price exists.
    """
    if price is None:
        return Rated(tuple(_ZERO for _ in TOKEN_CLASSES), _ZERO, _ZERO, UNKNOWN_CURRENCY, unpriced=True)
    unpriced = False
    costs: list[Decimal] = []
    with localcontext(_EXACT):
        for token_class, quantity in zip(TOKEN_CLASSES, quantities, strict=True):
            unit = price.price_for(token_class)
            if unit is None:
                unpriced = unpriced or quantity > 0
                costs.append(_ZERO)
            else:
                costs.append(unit * quantity / MILLION)
        request_cost = price.per_request * requests
        total = sum(costs, request_cost)
    return Rated(tuple(costs), request_cost, total, price.currency, unpriced)
