"""The built-in list-price book: services/tokenmeter/pricing/data/list-prices.yaml (effective-dated).

It lets the pipeline rate usage out of the box; production sets
TOKENMETER_PRICE_BOOK to its own book (see ``tokenmeter prices import``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tokenmeter.pricing.book import PriceBook

BUILTIN_BOOK = Path(__file__).parent / "data" / "list-prices.yaml"


@cache
def builtin_price_book() -> PriceBook:
    return PriceBook.from_file(BUILTIN_BOOK)


def load_price_book(path: Path | None) -> PriceBook:
    """The book at ``path``, or the built-in one. Raises ``PriceBookError`` naming the problem."""
    return builtin_price_book() if path is None else PriceBook.from_file(path)
