from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.pricing.errors import PriceBookError
from tokenmeter.pricing.models import ModelPrice
from tokenmeter.pricing.rating import rate

NOW_MS = 1_793_872_800_000  # 2026-11-05T10:00Z: the built-in book's current prices

BOOK = builtin_price_book()


def q(**counts: int) -> tuple[int, ...]:
    order = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
             "audio_input_tokens", "audio_output_tokens", "image_input_tokens")
    return tuple(counts.get(c, 0) for c in order)


def test_gpt4o_list_price_exact() -> None:
    # 1M input at $2.50, 1M cached at $1.25, 1M output at $10.00
    r = rate(q(input_tokens=1_000_000, cached_input_tokens=1_000_000, output_tokens=1_000_000), 3,
             BOOK.lookup("openai", "gpt-4o", NOW_MS))
    assert r.total == Decimal("13.75")
    assert r.currency == "USD"
    assert not r.unpriced


def test_single_token_prices_keep_every_digit() -> None:
    r = rate(q(input_tokens=1, cached_input_tokens=1, output_tokens=1), 1, BOOK.lookup("openai", "gpt-4o-mini", NOW_MS))
    # 0.15/1M + 0.075/1M + 0.60/1M
    assert r.costs[:4] == (Decimal("0.00000015"), Decimal("0.000000075"), Decimal(0), Decimal("0.0000006"))
    assert r.total == Decimal("0.000000825")


def test_reasoning_falls_back_to_output_price() -> None:
    r = rate(q(output_tokens=1000, reasoning_tokens=3000), 1, BOOK.lookup("openai", "o3", NOW_MS))
    assert r.total == Decimal("0.032")  # 4000 tokens at $8/1M


def test_alias_resolves() -> None:
    alias, model = BOOK.lookup("openai", "gpt-4o-2024-08-06", NOW_MS), BOOK.lookup("openai", "gpt-4o", NOW_MS)
    assert alias is not None and model is not None and alias.per_million == model.per_million


def test_unknown_model_is_unpriced_not_dropped() -> None:
    r = rate(q(input_tokens=500), 1, BOOK.lookup("acme", "acme-llm-1", NOW_MS))
    assert (r.total, r.currency, r.unpriced) == (Decimal(0), "XXX", True)


def test_class_without_price_is_flagged() -> None:
    r = rate(q(input_tokens=1_000_000, image_input_tokens=10), 1, BOOK.lookup("openai", "gpt-4o", NOW_MS))
    assert r.unpriced
    assert r.total == Decimal("2.50")


def test_per_request_price() -> None:
    price = ModelPrice("x", "m", "EUR", {"input_tokens": Decimal("1")}, per_request=Decimal("0.0001"))
    r = rate(q(input_tokens=2_000_000), 7, price)
    assert r.total == Decimal("2.0007")
    assert r.request_cost == Decimal("0.0007")


@pytest.mark.parametrize("bad", [Decimal("-1"), Decimal("0.0000001"), Decimal("NaN")])
def test_bad_prices_are_refused(bad: Decimal) -> None:
    with pytest.raises(PriceBookError, match=r"x/m\.input_tokens"):
        ModelPrice("x", "m", "USD", {"input_tokens": bad})


def test_unknown_token_class_is_refused() -> None:
    with pytest.raises(PriceBookError, match="unknown token class 'prompt_tokens'"):
        ModelPrice("x", "m", "USD", {"prompt_tokens": Decimal(1)})


counts = st.integers(min_value=0, max_value=10**12)


@given(st.lists(st.tuples(counts, counts, counts), min_size=1, max_size=20))
def test_rating_is_additive_over_windows(parts: list[tuple[int, int, int]]) -> None:
    """Money of summed quantities equals the sum of per-window money: no rounding anywhere."""
    price = BOOK.lookup("anthropic", "claude-sonnet-4", NOW_MS)
    per_window = sum((rate(q(input_tokens=a, cached_input_tokens=b, output_tokens=c), 1, price).total
                      for a, b, c in parts), Decimal(0))
    total = rate(q(input_tokens=sum(p[0] for p in parts), cached_input_tokens=sum(p[1] for p in parts),
                   output_tokens=sum(p[2] for p in parts)), len(parts), price).total
    assert per_window == total
    assert -total.as_tuple().exponent <= 12  # fits Decimal(38, 12) without rounding
