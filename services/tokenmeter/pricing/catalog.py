"""A small built-in list-price book, so the pipeline rates usage out of the box.

Figures are public list prices in USD per 1M tokens as published by each
provider (checked against the providers' pricing pages and the genai-prices
catalog); they are a snapshot, not effective-dated. The rating issue replaces
this module with an effective-dated book imported from real catalogs.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from tokenmeter.pricing.models import ModelPrice


def _p(value: str) -> Decimal:
    return Decimal(value)


BUILTIN_PRICES: tuple[ModelPrice, ...] = (
    ModelPrice("openai", "gpt-4o", "USD",
               {"input_tokens": _p("2.50"), "cached_input_tokens": _p("1.25"), "output_tokens": _p("10.00")},
               aliases=("gpt-4o-2024-08-06",)),
    ModelPrice("openai", "gpt-4o-mini", "USD",
               {"input_tokens": _p("0.15"), "cached_input_tokens": _p("0.075"), "output_tokens": _p("0.60")},
               aliases=("gpt-4o-mini-2024-07-18",)),
    ModelPrice("openai", "o3", "USD",
               {"input_tokens": _p("2.00"), "cached_input_tokens": _p("0.50"), "output_tokens": _p("8.00")},
               aliases=("o3-2025-04-16",)),
    ModelPrice("anthropic", "claude-sonnet-4", "USD",
               {"input_tokens": _p("3.00"), "cached_input_tokens": _p("0.30"),
                "cache_write_tokens": _p("3.75"), "output_tokens": _p("15.00")},
               aliases=("claude-sonnet-4-20250514",)),
    ModelPrice("anthropic", "claude-3-5-haiku", "USD",
               {"input_tokens": _p("0.80"), "cached_input_tokens": _p("0.08"),
                "cache_write_tokens": _p("1.00"), "output_tokens": _p("4.00")},
               aliases=("claude-3-5-haiku-20241022",)),
    ModelPrice("google", "gemini-2.5-flash", "USD",
               {"input_tokens": _p("0.30"), "cached_input_tokens": _p("0.075"), "output_tokens": _p("2.50"),
                "audio_input_tokens": _p("1.00")}),
)


class PriceBook:
    """Lookup of list prices by (provider, model or alias). Immutable after construction."""

    def __init__(self, prices: Iterable[ModelPrice]) -> None:
        self._by_key: dict[tuple[str, str], ModelPrice] = {}
        for price in prices:
            for name in (price.model, *price.aliases):
                self._by_key[(price.provider, name)] = price

    def lookup(self, provider: str, model: str) -> ModelPrice | None:
        return self._by_key.get((provider, model))


def builtin_price_book() -> PriceBook:
    return PriceBook(BUILTIN_PRICES)
