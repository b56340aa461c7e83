"""LiteLLM's price map -> a price book: exact decimals, tiers, cliffs, and a report of the rest.

The fixture is an excerpt of the real model_prices_and_context_window.json shipped in litellm 1.110.2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from tokenmeter.pricing.book import PriceBook
from tokenmeter.pricing.importers import from_litellm

D = Decimal
RAW = (Path(__file__).parent / "litellm-prices-excerpt.json").read_bytes()
BOOK, REPORT = from_litellm(RAW, date(2026, 12, 1))
PRICES = PriceBook(BOOK)
AT = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp() * 1000)


def test_per_token_floats_become_exact_per_million_decimals() -> None:
    gpt4o = PRICES.lookup("openai", "gpt-4o", AT)
    assert gpt4o is not None
    assert gpt4o.per_million == {"input_tokens": D("2.5"), "cached_input_tokens": D("1.25"), "output_tokens": D(10)}
    mini = PRICES.lookup("openai", "gpt-4o-mini", AT)
    assert mini is not None and mini.per_million["cached_input_tokens"] == D("0.075")


def test_batch_priority_and_flex_become_service_tiers() -> None:
    batch = PRICES.lookup("openai", "o3", AT, service_tier="batch")
    assert batch is not None and (batch.per_million["input_tokens"], batch.per_million["output_tokens"]) == (D(1), D(4))
    prio = PRICES.lookup("openai", "o3", AT, service_tier="priority")
    assert prio is not None and prio.per_million["input_tokens"] == D("3.5")


def test_above_200k_prices_become_a_cliff_and_the_provider_prefix_is_dropped() -> None:
    base = PRICES.lookup("gemini", "gemini-2.5-pro", AT, input_side_tokens=200_000)
    above = PRICES.lookup("gemini", "gemini-2.5-pro", AT, input_side_tokens=200_001)
    assert base is not None and above is not None
    assert (base.per_million["input_tokens"], above.per_million["input_tokens"]) == (D("1.25"), D("2.5"))
    assert above.per_million["output_tokens"] == D(15)


def test_anthropic_cache_writes_and_what_was_not_imported() -> None:
    sonnet = PRICES.lookup("anthropic", "claude-sonnet-4-5-20250929", AT)
    assert sonnet is not None and sonnet.per_million["cache_write_tokens"] == D("3.75")
    assert PRICES.lookup("openai", "gpt-4o", int(datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1000)) is None
    assert "anthropic/claude-sonnet-4-5-20250929: price cache_creation_input_token_cost_above_1hr has no token " \
           "class here (not imported)" in REPORT.skipped
    assert any(s.startswith("bedrock/1024-x-1024/50-steps/bedrock/amazon.nova-canvas-v1:0: no per-token prices")
               for s in REPORT.skipped)
    assert REPORT.imported == 6  # sample_spec and the image model are not models with token prices
