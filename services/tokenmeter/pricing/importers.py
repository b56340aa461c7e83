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

``from_litellm`` reads LiteLLM's price map (``model_prices_and_context_window.json``,
read as a file: no litellm dependency). Prices there are USD per token as JSON
numbers; they are parsed straight to Decimal (never through a float) and
scaled to per 1M. ``*_cost_per_token`` keys map like genai-prices';
``*_above_<N>k_tokens`` become a cliff at N,000; ``*_batches``, ``*_priority``
and ``*_flex`` become service tiers ``batch``, ``priority``, ``flex``. The map
has no dates: everything takes effect on ``effective_from``. Provider names
are LiteLLM's (``gemini``, ``bedrock``...), and a ``provider/`` prefix on the
model key is dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tokenmeter.pricing.book import Cliff, ModelEntry, Period, PriceBookFile, Variant

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


LITELLM_KEYS = {
    "input_cost_per_token": "input_tokens", "cache_read_input_token_cost": "cached_input_tokens",
    "cache_creation_input_token_cost": "cache_write_tokens", "output_cost_per_token": "output_tokens",
    "output_cost_per_reasoning_token": "reasoning_tokens", "input_cost_per_audio_token": "audio_input_tokens",
    "output_cost_per_audio_token": "audio_output_tokens", "input_cost_per_image_token": "image_input_tokens",
}
_LITELLM_TIERS = {"batches": "batch", "priority": "priority", "flex": "flex"}
_ABOVE = re.compile(r"^(?P<base>.+)_above_(?P<k>\d+)k_tokens$")


def from_litellm(raw: bytes, effective_from: date) -> tuple[PriceBookFile, ImportReport]:
    """A book from the bytes of LiteLLM's price map."""
    doc = json.loads(raw, parse_float=Decimal)
    report = ImportReport()
    entries: dict[tuple[str, str], ModelEntry] = {}
    for key, spec in doc.items():
        if key == "sample_spec" or not isinstance(spec, dict):
            continue
        provider = str(spec.get("litellm_provider", ""))
        model = key.removeprefix(f"{provider}/") if provider else key
        where = f"{provider or '?'}/{model}"
        if not provider:
            report.note(f"{key}: no litellm_provider (not imported)")
            continue
        period = _litellm_period(spec, effective_from, where, report)
        if period is None:
            report.note(f"{where}: no per-token prices (mode {spec.get('mode')}; not imported)")
            continue
        if (provider, model) in entries:
            report.note(f"{key}: {where} already imported from another key (skipped)")
            continue
        entries[(provider, model)] = ModelEntry(provider=provider, model=model, periods=[period])
        report.imported += 1
    return PriceBookFile(version=1, currency="USD", models=list(entries.values())), report


def _litellm_period(spec: dict[str, Any], start: date, where: str, report: ImportReport) -> Period | None:
    base: dict[str, Decimal] = {}
    tiers: dict[str, dict[str, Decimal]] = {}
    cliffs: dict[int, dict[str, Decimal]] = {}
    for name, value in spec.items():
        if "cost" not in name or not isinstance(value, Decimal | int):
            continue
        key, tier = name, None
        for suffix, tier_name in _LITELLM_TIERS.items():
            if name.endswith(f"_{suffix}"):
                key, tier = name.removesuffix(f"_{suffix}"), tier_name
        above = _ABOVE.match(key)
        threshold = int(above["k"]) * 1000 if above else None
        token_class = LITELLM_KEYS.get(above["base"] if above else key)
        price = (Decimal(value) * 1_000_000).normalize()
        if token_class is None or (tier is not None and threshold is not None):
            report.note(f"{where}: price {name} has no token class here (not imported)")
            continue
        if price != price.quantize(Decimal("0.000001")):
            report.note(f"{where}: {name} = {value}/token has more than 6 decimals per 1M tokens (not imported)")
            continue
        if tier is not None:
            tiers.setdefault(tier, {})[token_class] = price
        elif threshold is not None:
            cliffs.setdefault(threshold, {})[token_class] = price
        else:
            base[token_class] = price
    if not base:
        return None
    return Period(effective_from=start, per_million=base,
                  service_tiers={t: Variant(per_million=p) for t, p in sorted(tiers.items())},
                  cliffs=[Cliff(above_input_tokens=t, per_million=p) for t, p in sorted(cliffs.items())])
