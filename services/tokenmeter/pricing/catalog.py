"""The built-in list-price book: services/tokenmeter/pricing/data/list-prices.yaml (effective-dated).

It lets the pipeline rate usage out of the box; production sets
TOKENMETER_PRICE_BOOK to its own book (see ``tokenmeter prices import``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tokenmeter.pricing.book import PriceBook
from tokenmeter.pricing.errors import PriceBookError
from tokenmeter.pricing.plans import PlansFile

BUILTIN_BOOK = Path(__file__).parent / "data" / "list-prices.yaml"


@cache
def builtin_price_book() -> PriceBook:
    return PriceBook.from_file(BUILTIN_BOOK)


DEFAULT_PLANS = {"plans": [{"id": "list", "name": "Pay as you go", "pricing": {"type": "pay_as_you_go"}}]}


def load_plans(path: Path | None, default_plan: str | None) -> tuple[PlansFile, str | None]:
    """The plans file at ``path`` and the plan for unassigned days; without a file, everyone is on
    list-price pay-as-you-go. Raises ``PriceBookError`` naming the file and the problem."""
    import yaml
    from pydantic import ValidationError

    if path is None:
        return PlansFile.model_validate(DEFAULT_PLANS), "list"
    try:
        return PlansFile.model_validate(yaml.safe_load(path.read_text())), default_plan
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise PriceBookError(f"{path}: invalid plans file: {exc}") from exc


def load_price_book(path: Path | None) -> PriceBook:
    """The book at ``path``, or the built-in one. Raises ``PriceBookError`` naming the problem."""
    return builtin_price_book() if path is None else PriceBook.from_file(path)
