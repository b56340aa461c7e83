"""Price types. Prices are Decimal per one million tokens, as providers publish them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.pricing.errors import PriceBookError

MILLION = Decimal(1_000_000)
# Money columns are Decimal(38, 12); a per-million price with at most 6 decimals
# gives a per-token price with at most 12, so every product is exact.
MAX_PRICE_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """List price of one model at one provider.

    ``per_million`` maps token classes to a price per 1M tokens. A class with
    no entry is unpriced for this model: usage in it is counted but flagged.
    Fallbacks, as providers bill and genai-prices computes: ``reasoning_tokens``
    is output when absent; ``cached_input_tokens`` and ``cache_write_tokens``
    are plain input when absent (no discount or surcharge is published).
    """

    provider: str
    model: str
    currency: str
    per_million: dict[str, Decimal]
    per_request: Decimal = Decimal(0)
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for token_class, price in self.per_million.items():
            if token_class not in TOKEN_CLASSES:
                raise PriceBookError(f"{self.provider}/{self.model}: unknown token class {token_class!r}")
            _check_price(f"{self.provider}/{self.model}.{token_class}", price)
        _check_price(f"{self.provider}/{self.model}.per_request", self.per_request)

    def price_for(self, token_class: str) -> Decimal | None:
        price = self.per_million.get(token_class)
        if price is None and token_class in _FALLBACK:
            return self.per_million.get(_FALLBACK[token_class])
        return price


_FALLBACK = {"reasoning_tokens": "output_tokens", "cached_input_tokens": "input_tokens",
             "cache_write_tokens": "input_tokens"}


def _check_price(where: str, price: Decimal) -> None:
    if not price.is_finite() or price < 0:
        raise PriceBookError(f"{where}: price must be a finite non-negative decimal, got {price}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PRICE_DECIMALS:
        raise PriceBookError(f"{where}: {price} has more than {MAX_PRICE_DECIMALS} decimals per 1M tokens")


@dataclass(frozen=True, slots=True)
class Rated:
    """Money for one window's quantities. ``unpriced`` is true when some usage had no price."""

    costs: tuple[Decimal, ...]  # per token class, in TOKEN_CLASSES order
    request_cost: Decimal
    total: Decimal
    currency: str
    unpriced: bool
