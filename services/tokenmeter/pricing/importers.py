"""Price books from real catalogs, with a report of everything that could not be mapped.

``from_genai_prices`` reads the data bundled with the ``genai-prices`` package
(pydantic's dated catalog). Mapping of its price keys to token classes:

  input_mtok -> input_tokens            cache_read_mtok -> cached_input_tokens
  cache_write_mtok -> cache_write_tokens output_mtok -> output_tokens
  output_reasoning_mtok -> reasoning_tokens
  input_audio_mtok -> audio_input_tokens output_audio_mtok -> audio_output_tokens
  input_image_mtok -> image_input_tokens requests_kcount -> per_request (/ 1000)

Their dated variants (``StartDateConstraint``) become periods; their tiered
prices (a cliff on total input tokens) become cliffs. Reported, not imported:
other price keys (web searches, 1-hour cache writes, video, characters...),
time-of-day prices, and alias patterns (prefix or regex matches; only exact
alias names are imported).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tokenmeter.pricing.book import Cliff, ModelEntry, Period, PriceBookFile

GENAI_KEYS = {
    "input_mtok": "input_tokens", "cache_read_mtok": "cached_input_tokens",
    "cache_write_mtok": "cache_write_tokens", "output_mtok": "output_tokens",
    "output_reasoning_mtok": "reasoning_tokens", "input_audio_mtok": "audio_input_tokens",
    "output_audio_mtok": "audio_output_tokens", "input_image_mtok": "image_input_tokens",
}
EPOCH = date(2020, 1, 1)  # "since ever" for undated prices: before any LLM usage we could meter


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    skipped: list[str] = field(default_factory=list)  # what was not imported, and why

    def note(self, what: str) -> None:
        self.skipped.append(what)


def from_genai_prices(providers: set[str] | None = None) -> tuple[PriceBookFile, ImportReport]:
    """All (or the given) providers of the bundled genai-prices snapshot."""
    from genai_prices.data_snapshot import get_snapshot

    report = ImportReport()
    entries = []
    for provider in get_snapshot().providers:
        if providers is not None and provider.id not in providers:
            continue
        for model in provider.models:
            entry = _genai_model(provider.id, model, report)
            if entry is not None:
                entries.append(entry)
                report.imported += 1
    return PriceBookFile(version=1, currency="USD", models=entries), report


def _genai_model(provider: str, model: Any, report: ImportReport) -> ModelEntry | None:
    from genai_prices.types import StartDateConstraint

    where = f"{provider}/{model.id}"
    aliases = sorted(a for a in _exact_names(model.match, where, report) if a != model.id)
    variants = model.prices if isinstance(model.prices, list) else [_Unconditional(model.prices)]
    dated: list[tuple[date, Any]] = []
    for variant in variants:
        constraint = variant.constraint
        if constraint is None:
            dated.append((EPOCH, variant.prices))
        elif isinstance(constraint, StartDateConstraint):
            dated.append((constraint.start_date, variant.prices))
        else:
            report.note(f"{where}: {type(constraint).__name__} price not imported (time-of-day pricing)")
    dated.sort(key=lambda d: d[0])
    periods = []
    for i, (start, prices) in enumerate(dated):
        end = dated[i + 1][0] if i + 1 < len(dated) else None
        period = _genai_period(prices, start, end, where, report)
        if period is not None:
            periods.append(period)
    if not periods:
        report.note(f"{where}: no token prices to import")
        return None
    return ModelEntry(provider=provider, model=model.id, aliases=aliases, periods=periods)


@dataclass(frozen=True, slots=True)
class _Unconditional:
    prices: Any
    constraint: None = None


def _genai_period(prices: Any, start: date, end: date | None, where: str, report: ImportReport) -> Period | None:
    from genai_prices.types import TieredPrices

    base: dict[str, Decimal] = {}
    cliffs: dict[int, dict[str, Decimal]] = {}
    per_request = Decimal(0)
    for key, value in vars(prices).items():
        if value is None or key.startswith("_"):
            continue
        if key == "requests_kcount":
            per_request = Decimal(value) / 1000
            continue
        token_class = GENAI_KEYS.get(key)
        if token_class is None:
            report.note(f"{where}: price {key} has no token class here (not imported)")
            continue
        if isinstance(value, TieredPrices):
            base[token_class] = value.base
            for tier in value.tiers:
                cliffs.setdefault(tier.start, {})[token_class] = tier.price
        else:
            base[token_class] = Decimal(value)
    if not base:
        return None
    return Period(effective_from=start, effective_to=end, per_million=base, per_request=per_request,
                  cliffs=[Cliff(above_input_tokens=t, per_million=p) for t, p in sorted(cliffs.items())])


def _exact_names(clause: Any, where: str, report: ImportReport) -> list[str]:
    """Exact model names a genai-prices match clause accepts; patterns are reported."""
    from genai_prices.types import ClauseEquals, ClauseOr

    if isinstance(clause, ClauseEquals):
        return [clause.equals]
    if isinstance(clause, ClauseOr):
        return [name for sub in clause.or_ for name in _exact_names(sub, where, report)]
    report.note(f"{where}: alias pattern {clause!r} not imported (only exact names are)")
    return []
