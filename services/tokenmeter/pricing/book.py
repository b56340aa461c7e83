"""The effective-dated price book: file format (YAML or JSON, schema in schemas/) and lookups. Pure.

A book lists models; each model has aliases and price *periods*
``[effective_from, effective_to)`` (dates, UTC midnight; the last may stay
open) that never overlap. A period holds prices per 1M tokens per token class,
an optional per-request price, service-tier variants (``batch``, ``priority``:
their classes replace the standard ones) and context cliffs: when a request's
input side (input + cached input + cache write + audio and image input
tokens) is ABOVE ``above_input_tokens``, every class listed in the cliff is
billed at the cliff price for that whole request (genai-prices and the
providers call this tiered pricing; it is a cliff, not a graduation).

:meth:`PriceBook.lookup` answers "what did this model cost at that instant, for
that tier and prompt size" with a :class:`~tokenmeter.pricing.models.ModelPrice`,
or None when the book has no price (usage is then counted and flagged unpriced).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.pricing.errors import PriceBookError
from tokenmeter.pricing.models import ModelPrice

PerMillion = dict[str, Annotated[Decimal, Field(ge=0, decimal_places=6)]]
INPUT_SIDE = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "audio_input_tokens",
              "image_input_tokens")


DAY_MS = 86_400_000
_INPUT_SIDE_INDEX = tuple(TOKEN_CLASSES.index(c) for c in INPUT_SIDE)


def input_side_tokens(counts: Sequence[int]) -> int:
    """Tokens on the input side of one request (what context cliffs are measured on)."""
    return sum(counts[i] for i in _INPUT_SIDE_INDEX)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Priced(_Strict):
    per_million: PerMillion

    @field_validator("per_million")
    @classmethod
    def _known_classes(cls, prices: dict[str, Decimal]) -> dict[str, Decimal]:
        unknown = sorted(set(prices) - set(TOKEN_CLASSES))
        if unknown:
            raise ValueError(f"unknown token classes {unknown}; known: {list(TOKEN_CLASSES)}")
        return prices


class Cliff(_Priced):
    above_input_tokens: int = Field(ge=1)


class Variant(_Priced):
    per_request: Annotated[Decimal, Field(ge=0, decimal_places=9)] | None = None


class Period(_Priced):
    effective_from: date
    effective_to: date | None = None  # exclusive
    per_request: Annotated[Decimal, Field(ge=0, decimal_places=9)] = Decimal(0)
    service_tiers: dict[str, Variant] = Field(default_factory=dict)
    cliffs: list[Cliff] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError(f"effective_to {self.effective_to} must be after effective_from {self.effective_from}")
        thresholds = [c.above_input_tokens for c in self.cliffs]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("cliffs must have distinct thresholds in ascending order")
        return self


class ModelEntry(_Strict):
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    periods: list[Period] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_overlap(self) -> ModelEntry:
        periods = sorted(self.periods, key=lambda p: p.effective_from)
        for earlier, later in pairwise(periods):
            if earlier.effective_to is None or earlier.effective_to > later.effective_from:
                raise ValueError(f"{self.provider}/{self.model}: period from {earlier.effective_from} overlaps the "
                                 f"one from {later.effective_from}")
        return self


class TenantModelPrice(_Priced):
    provider: str
    model: str  # the model's name or an alias


class TenantTerms(_Strict):
    """A tenant's negotiated terms for a span of time: a discount on every list price, and/or
    per-model prices that replace the (discounted) list price class by class."""

    tenant: str = Field(min_length=1)
    effective_from: date
    effective_to: date | None = None
    discount_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)] = Decimal(0)
    models: list[TenantModelPrice] = Field(default_factory=list)


class PriceBookFile(_Strict):
    version: int = Field(1, ge=1, le=1)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    models: list[ModelEntry]
    tenants: list[TenantTerms] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tenant_terms_do_not_overlap(self) -> PriceBookFile:
        by_tenant: dict[str, list[TenantTerms]] = {}
        for t in self.tenants:
            by_tenant.setdefault(t.tenant, []).append(t)
        for tenant, terms in by_tenant.items():
            terms.sort(key=lambda t: t.effective_from)
            for earlier, later in pairwise(terms):
                if earlier.effective_to is None or earlier.effective_to > later.effective_from:
                    raise ValueError(f"tenant {tenant!r}: terms from {earlier.effective_from} overlap the ones "
                                     f"from {later.effective_from}")
        return self


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


class PriceBook:
    """Effective-dated lookups over a validated :class:`PriceBookFile`. Immutable."""

    def __init__(self, book: PriceBookFile) -> None:
        self.book = book
        self._entries: dict[tuple[str, str], tuple[ModelEntry, list[int]]] = {}
        for entry in book.models:
            periods = sorted(entry.periods, key=lambda p: p.effective_from)
            entry = entry.model_copy(update={"periods": periods})
            starts = [_ms(p.effective_from) for p in periods]
            for name in (entry.model, *entry.aliases):
                key = (entry.provider, name)
                if key in self._entries:
                    raise PriceBookError(f"{entry.provider}/{name} is listed twice (as a model or an alias)")
                self._entries[key] = (entry, starts)
        self._terms: dict[str, list[TenantTerms]] = {}
        for terms in sorted(book.tenants, key=lambda t: t.effective_from):
            self._terms.setdefault(terms.tenant, []).append(terms)
            self._check_discount_is_exact(terms)
        # Periods and tenant terms start and end at UTC midnight, so every answer holds for a whole
        # UTC day. The meter asks per window snapshot and per event; these memos (per day, least
        # recently used first out) turn the repeats into one dict lookup.
        self._window_prices = lru_cache(maxsize=65_536)(self._window_price)
        self._day_cliffs = lru_cache(maxsize=65_536)(self._cliffs_on)

    def _check_discount_is_exact(self, terms: TenantTerms) -> None:
        """A discounted price must still be exact to 6 decimals per 1M tokens (money stays exact)."""
        if not terms.discount_percent:
            return
        for entry in self.book.models:
            for period in entry.periods:
                priced = [*period.per_million.items(), ("per_request", period.per_request)]
                for v in (*period.service_tiers.values(), *period.cliffs):
                    priced += v.per_million.items()
                for token_class, price in priced:
                    discounted = price * (100 - terms.discount_percent) / 100
                    if discounted != discounted.quantize(Decimal("0.000001")):
                        raise PriceBookError(
                            f"tenant {terms.tenant!r}: a {terms.discount_percent} % discount on {entry.provider}/"
                            f"{entry.model} {token_class} ({price}) gives {discounted}, more than 6 decimals per 1M "
                            "tokens; give that tenant a per-model price instead")

    @classmethod
    def from_file(cls, path: Path) -> PriceBook:
        """Load a YAML or JSON book; ``PriceBookError`` names the file, the field and the reason."""
        import yaml

        try:
            raw: Any = yaml.safe_load(path.read_text())
            return cls(PriceBookFile.model_validate(raw))
        except (OSError, yaml.YAMLError) as exc:
            raise PriceBookError(f"{path}: cannot read the price book: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise PriceBookError(f"{path}: invalid price book: {problems}") from exc

    def models(self) -> Iterable[ModelEntry]:
        return self.book.models

    def period(self, provider: str, model: str, at_ms: int) -> Period | None:
        """The one period in force at ``at_ms`` (periods never overlap, so there is at most one)."""
        found = self._entries.get((provider, model))
        if found is None:
            return None
        entry, starts = found
        i = bisect_right(starts, at_ms) - 1
        if i < 0:
            return None
        period = entry.periods[i]
        if period.effective_to is not None and at_ms >= _ms(period.effective_to):
            return None
        return period

    def terms(self, tenant: str, at_ms: int) -> TenantTerms | None:
        for t in self._terms.get(tenant, ()):
            if _ms(t.effective_from) <= at_ms and (t.effective_to is None or at_ms < _ms(t.effective_to)):
                return t
        return None

    def lookup(self, provider: str, model: str, at_ms: int, *, service_tier: str = "standard",
               input_side_tokens: int = 0, band: int | None = None, tenant: str | None = None) -> ModelPrice | None:
        """The price in force; cliffs apply for a request of ``input_side_tokens``, or, when ``band``
        is given, the first ``band`` cliffs (a window already knows its band). With ``tenant``, its
        terms in force win: the discount applies to every class, then its per-model prices replace
        classes. A tenant price for a model the book does not list is still a price."""
        price = self._list_price(provider, model, at_ms, service_tier=service_tier,
                                 input_side_tokens=input_side_tokens, band=band)
        terms = self.terms(tenant, at_ms) if tenant is not None else None
        if terms is None:
            return price
        prices = dict(price.per_million) if price is not None else {}
        per_request = price.per_request if price is not None else Decimal(0)
        if terms.discount_percent:
            keep = (100 - terms.discount_percent) / 100
            prices = {c: (p * keep).normalize() for c, p in prices.items()}
            per_request = per_request * keep
        names = self._names(provider, model)
        for override in terms.models:
            if override.provider == provider and override.model in names:
                prices.update(override.per_million)
        if not prices:
            return None
        return ModelPrice(provider, model, self.book.currency, prices, per_request)

    def window_price(self, provider: str, model: str, start_ms: int, *, service_tier: str, band: int,
                     tenant: str) -> ModelPrice | None:
        """:meth:`lookup` for a window of ``band`` starting at ``start_ms`` (memoised per UTC day).
        The answer is shared: callers must not change it (ModelPrice is frozen; leave its dict be)."""
        return self._window_prices(provider, model, start_ms // DAY_MS, service_tier, band, tenant)

    def _window_price(self, provider: str, model: str, day: int, service_tier: str, band: int,
                      tenant: str) -> ModelPrice | None:
        return self.lookup(provider, model, day * DAY_MS, service_tier=service_tier, band=band, tenant=tenant)

    def is_priced(self, provider: str, model: str, at_ms: int, *, tenant: str | None = None) -> bool:
        """Whether :meth:`lookup` would find a price (cheap: builds no price object)."""
        if self.period(provider, model, at_ms) is not None:
            return True
        terms = self.terms(tenant, at_ms) if tenant is not None else None
        names = self._names(provider, model) if terms is not None else set()
        return terms is not None and any(o.provider == provider and o.model in names for o in terms.models)

    def _names(self, provider: str, model: str) -> set[str]:
        found = self._entries.get((provider, model))
        return {model} if found is None else {found[0].model, *found[0].aliases}

    def _list_price(self, provider: str, model: str, at_ms: int, *, service_tier: str,
                    input_side_tokens: int, band: int | None) -> ModelPrice | None:
        period = self.period(provider, model, at_ms)
        if period is None:
            return None
        prices = dict(period.per_million)
        per_request = period.per_request
        variant = period.service_tiers.get(service_tier)
        if variant is not None:
            prices.update(variant.per_million)
            per_request = variant.per_request if variant.per_request is not None else per_request
        crossed = period.cliffs[:band] if band is not None else \
            [c for c in period.cliffs if input_side_tokens > c.above_input_tokens]
        for cliff in crossed:
            prices.update(cliff.per_million)
        return ModelPrice(provider, model, self.book.currency, prices, per_request)

    def band(self, provider: str, model: str, at_ms: int, counts: Sequence[int]) -> int:
        """How many cliffs a request with these token counts (``TOKEN_CLASSES`` order) crosses
        (0: base price). A rating dimension of windows."""
        cliffs = self._day_cliffs(provider, model, at_ms // DAY_MS)
        if not cliffs:
            return 0
        tokens = input_side_tokens(counts)
        return sum(1 for above in cliffs if tokens > above)

    def _cliffs_on(self, provider: str, model: str, day: int) -> tuple[int, ...]:
        period = self.period(provider, model, day * DAY_MS)
        return () if period is None else tuple(c.above_input_tokens for c in period.cliffs)
