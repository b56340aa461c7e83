"""The effective-dated price book, and its agreement with genai-prices' own calculation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from hypothesis import given
from hypothesis import strategies as st

from tokenmeter.pricing.book import PriceBook, PriceBookFile
from tokenmeter.pricing.errors import PriceBookError
from tokenmeter.pricing.importers import from_genai_prices
from tokenmeter.pricing.rating import rate

D = Decimal
BOOK, REPORT = from_genai_prices({"openai", "anthropic", "google"})
PRICES = PriceBook(BOOK)

# (provider, model) pairs priced in the catalog: chat models with cached input, and cliff models.
MODELS = [
    ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-4.1-nano"), ("openai", "o3"), ("openai", "o4-mini"), ("openai", "o1"), ("openai", "o3-mini"),
    ("openai", "gpt-4-turbo"), ("anthropic", "claude-3-5-haiku-latest"), ("anthropic", "claude-sonnet-4-0"),
    ("anthropic", "claude-opus-4-1"), ("anthropic", "claude-3-haiku"), ("anthropic", "claude-3-7-sonnet-latest"),
    ("anthropic", "claude-opus-4-0"), ("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.0-flash"), ("google", "gemini-2.5-flash-lite"), ("google", "gemini-1.5-pro"),
    ("google", "gemini-1.5-flash"),
]
WHEN = datetime(2025, 9, 1, tzinfo=UTC)


def ours(provider: str, model: str, when: datetime, i: int, c: int, w: int, o: int) -> Decimal | None:
    at_ms = int(when.timestamp() * 1000)
    price = PRICES.lookup(provider, model, at_ms, input_side_tokens=i + c + w)
    if price is None:
        return None
    return rate((i, c, w, o, 0, 0, 0, 0), 1, price).total


@pytest.mark.parametrize(("i", "c", "w", "o"), [
    (1_000, 0, 0, 500), (12_345, 6_789, 0, 2_468), (150_000, 40_000, 10_000, 8_000),
    (180_000, 30_000, 0, 1_000),  # 210k input side: above the 200k cliff where one exists
])
def test_list_prices_agree_with_genai_prices_to_a_nanodollar(i: int, c: int, w: int, o: int) -> None:
    checked = set()
    for provider, model in MODELS:
        mine = ours(provider, model, WHEN, i, c, w, o)
        if mine is None:
            continue
        theirs = calc_price(Usage(input_tokens=i + c + w, cache_read_tokens=c, cache_write_tokens=w,
                                  output_tokens=o), model, provider_id=provider, genai_request_timestamp=WHEN)
        assert abs(mine - theirs.total_price) <= D("1e-9"), (provider, model, mine, theirs.total_price)
        checked.add((provider, model))
    assert len(checked) >= 20 and len({p for p, _ in checked}) == 3


def test_cliff_bills_the_whole_request_at_the_higher_rate() -> None:
    small = ours("google", "gemini-2.5-pro", WHEN, 200_000, 0, 0, 1_000_000)
    large = ours("google", "gemini-2.5-pro", WHEN, 200_001, 0, 0, 1_000_000)
    assert small == D("0.25") + D("10")          # 200k in at $1.25, 1M out at $10
    assert large == D("0.5000025") + D("15")     # every token at the >200k rates: $2.50 in, $15 out
    assert PRICES.band("google", "gemini-2.5-pro", int(WHEN.timestamp() * 1000), (200_001, 0, 0, 0, 0, 0, 0, 0)) == 1


def test_o3_price_cut_on_2025_06_10_is_effective_dated() -> None:
    before = datetime(2025, 6, 9, 23, 59, tzinfo=UTC)
    after = datetime(2025, 6, 10, tzinfo=UTC)
    assert ours("openai", "o3", before, 1_000_000, 0, 0, 1_000_000) == D("50")
    assert ours("openai", "o3", after, 1_000_000, 0, 0, 1_000_000) == D("10")
    assert ours("openai", "o3-2025-04-16", after, 1_000_000, 0, 0, 1_000_000) == D("10")  # an exact alias


def test_the_import_reports_what_it_could_not_map() -> None:
    assert REPORT.imported >= 100
    assert any("web_searches_kcount has no token class" in s for s in REPORT.skipped)
    assert any("alias pattern" in s for s in REPORT.skipped)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "book.yaml"
    path.write_text(text)
    return path


BOOK_YAML = """
version: 1
currency: USD
models:
  - provider: acme
    model: m1
    aliases: [m1-2026]
    periods:
      - effective_from: 2026-01-01
        effective_to: 2026-03-01
        per_million: {input_tokens: "2", output_tokens: "8"}
        service_tiers:
          batch: {per_million: {input_tokens: "1", output_tokens: "4"}}
      - effective_from: 2026-03-01
        per_million: {input_tokens: "1.5", output_tokens: "6"}
"""


def test_yaml_book_with_dates_aliases_and_service_tiers(tmp_path: Path) -> None:
    book = PriceBook.from_file(write(tmp_path, BOOK_YAML))
    feb = int(datetime(2026, 2, 28, 23, 59, tzinfo=UTC).timestamp() * 1000)
    mar = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    dec = int(datetime(2025, 12, 31, tzinfo=UTC).timestamp() * 1000)
    assert book.lookup("acme", "m1", feb).per_million == {"input_tokens": D(2), "output_tokens": D(8)}  # type: ignore[union-attr]
    assert book.lookup("acme", "m1-2026", feb, service_tier="batch").per_million["input_tokens"] == D(1)  # type: ignore[union-attr]
    assert book.lookup("acme", "m1", mar).per_million["input_tokens"] == D("1.5")  # type: ignore[union-attr]
    assert book.lookup("acme", "m1", dec) is None  # before the first period: unpriced, never a guess


@pytest.mark.parametrize(("change", "message"), [
    (("effective_to: 2026-03-01", "effective_to: 2026-03-02"), "overlaps the one from 2026-03-01"),
    (('input_tokens: "2"', 'inptu_tokens: "2"'), "unknown token classes"),
    (('input_tokens: "2"', 'input_tokens: "2.0000001"'), "decimal places"),
    (("effective_to: 2026-03-01", "effective_to: 2025-03-01"), "must be after effective_from"),
])
def test_invalid_books_name_the_file_field_and_reason(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(PriceBookError, match=message) as err:
        PriceBook.from_file(write(tmp_path, BOOK_YAML.replace(*change)))
    assert "book.yaml" in str(err.value)


def test_an_alias_may_not_shadow_another_model() -> None:
    raw = {"models": [{"provider": "a", "model": "x", "periods": [{"effective_from": "2026-01-01",
                                                                   "per_million": {"input_tokens": "1"}}]},
                      {"provider": "a", "model": "y", "aliases": ["x"],
                       "periods": [{"effective_from": "2026-01-01", "per_million": {"input_tokens": "1"}}]}]}
    with pytest.raises(PriceBookError, match="a/x is listed twice"):
        PriceBook(PriceBookFile.model_validate(raw))


TERMS_YAML = BOOK_YAML + """
tenants:
  - tenant: bigco
    effective_from: 2026-02-01
    discount_percent: "12.5"
    models:
      - {provider: acme, model: m1-2026, per_million: {output_tokens: "5"}}
  - tenant: tiny
    effective_from: 2026-01-01
    effective_to: 2026-02-01
    models:
      - {provider: other, model: private-1, per_million: {input_tokens: "9"}}
"""


def test_tenant_terms_win_over_list_prices(tmp_path: Path) -> None:
    book = PriceBook.from_file(write(tmp_path, TERMS_YAML))
    feb = int(datetime(2026, 2, 10, tzinfo=UTC).timestamp() * 1000)
    jan = int(datetime(2026, 1, 10, tzinfo=UTC).timestamp() * 1000)
    big = book.lookup("acme", "m1", feb, tenant="bigco")
    assert big is not None and big.per_million == {"input_tokens": D("1.75"), "output_tokens": D(5)}  # 2 - 12.5 %
    assert book.lookup("acme", "m1", jan, tenant="bigco").per_million["input_tokens"] == D(2)  # type: ignore[union-attr]  # before the terms
    assert book.lookup("acme", "m1", feb, tenant="someone").per_million["input_tokens"] == D(2)  # type: ignore[union-attr]
    private = book.lookup("other", "private-1", jan, tenant="tiny")  # a model only this tenant has a price for
    assert private is not None and private.per_million == {"input_tokens": D(9)}
    assert book.lookup("other", "private-1", jan) is None


def test_a_discount_that_would_break_exactness_is_refused(tmp_path: Path) -> None:
    text = TERMS_YAML.replace('"12.5"', '"12.35"').replace('input_tokens: "1.5"', 'input_tokens: "0.075"')
    with pytest.raises(PriceBookError, match=r"12.35 % discount on acme/m1 input_tokens \(0.075\) gives 0.0657375"):
        PriceBook.from_file(write(tmp_path, text))


def test_overlapping_tenant_terms_are_refused(tmp_path: Path) -> None:
    text = TERMS_YAML + """  - {tenant: bigco, effective_from: 2026-03-01, discount_percent: "5"}\n"""
    with pytest.raises(PriceBookError, match="tenant 'bigco': terms from 2026-02-01 overlap"):
        PriceBook.from_file(write(tmp_path, text))


@given(st.lists(st.tuples(st.integers(0, 400), st.integers(1, 60), st.booleans()), min_size=1, max_size=8),
       st.lists(st.integers(-10, 900), min_size=1, max_size=20))
def test_effective_dated_lookup_finds_the_one_period_containing_the_instant(
        raw: list[tuple[int, int, bool]], days: list[int]) -> None:
    from datetime import date, timedelta

    base = date(2026, 1, 1)
    periods, cursor = [], 0
    for gap, length, open_end in raw:  # non-overlapping by construction, with gaps; only the last may be open
        start = cursor + gap % 30
        periods.append((start, None if open_end and len(periods) == len(raw) - 1 else start + length))
        cursor = start + length
    entry = {"provider": "p", "model": "m", "periods": [
        {"effective_from": str(base + timedelta(days=s)),
         "effective_to": None if e is None else str(base + timedelta(days=e)),
         "per_million": {"input_tokens": str(i + 1)}} for i, (s, e) in enumerate(periods)]}
    book = PriceBook(PriceBookFile.model_validate({"models": [entry]}))
    for day in days:
        at_ms = int(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp() * 1000) + day * 86_400_000
        containing = [i for i, (s, e) in enumerate(periods) if s <= day and (e is None or day < e)]
        assert len(containing) <= 1
        price = book.lookup("p", "m", at_ms)
        assert (price.per_million["input_tokens"] if price else None) == (D(containing[0] + 1) if containing else None)


def test_is_priced_agrees_with_lookup(tmp_path: Path) -> None:
    book = PriceBook.from_file(write(tmp_path, TERMS_YAML))
    days = (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 2, 10, tzinfo=UTC))
    for day in days:
        at = int(day.timestamp() * 1000)
        for provider, model in (("acme", "m1"), ("acme", "m1-2026"), ("other", "private-1"), ("x", "y")):
            for tenant in (None, "bigco", "tiny"):
                assert book.is_priced(provider, model, at, tenant=tenant) == (
                    book.lookup(provider, model, at, tenant=tenant) is not None), (provider, model, day, tenant)


@given(st.integers(0, 86_400_000 * 3 - 1), st.sampled_from([0, 1]), st.integers(0, 400_000))
def test_per_day_memos_answer_as_the_lookup_at_the_instant(offset_ms: int, band: int, prompt: int) -> None:
    # Two days either side of the o3 cut (2025-06-10), and gemini-2.5-pro's 200k cliff.
    at_ms = int(datetime(2025, 6, 8, tzinfo=UTC).timestamp() * 1000) + offset_ms
    for provider, model in (("openai", "o3"), ("google", "gemini-2.5-pro"), ("nobody", "nothing")):
        assert PRICES.window_price(provider, model, at_ms, service_tier="standard", band=band, tenant="t") == \
            PRICES.lookup(provider, model, at_ms, band=band, tenant="t")
        direct = PRICES.lookup(provider, model, at_ms, input_side_tokens=prompt)
        banded = PRICES.lookup(provider, model, at_ms, band=PRICES.band(provider, model, at_ms,
                                                                         (prompt, 0, 0, 0, 0, 0, 0, 0)))
        assert banded == direct
    assert PRICES.band("google", "gemini-2.5-pro", at_ms, (prompt, 0, 0, 0, 0, 0, 0, 0)) == int(prompt > 200_000)
