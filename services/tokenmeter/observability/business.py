"""Business metrics from counted events: tokens by tenant and by model, through bounded labels."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from tokenmeter.events.models import TOKEN_CLASSES, UsageEvent
from tokenmeter.observability import metrics
from tokenmeter.observability.bounded import BoundedLabel

Group = tuple[str, str, str]  # (tenant, provider, model)


class Series:
    """A labelled metric's children, kept once made: ``labels()`` validates and locks on every
    call, a measurable cost when the meter adds to hundreds of series per run. The label values
    come through :class:`BoundedLabel`, so this holds as many children as the metric has series."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


TENANT_TOKENS = Series(metrics.TENANT_TOKENS)
MODEL_TOKENS = Series(metrics.MODEL_TOKENS)
TENANT_COST = Series(metrics.TENANT_COST)
MODEL_COST = Series(metrics.MODEL_COST)


def token_groups(events: Iterable[UsageEvent]) -> dict[Group, list[int]]:
    """Token counts (``TOKEN_CLASSES`` order) summed per (tenant, provider, model)."""
    groups: dict[Group, list[int]] = {}
    for ev in events:
        key = (ev.subject, ev.data.provider, ev.data.model)
        sums = groups.get(key)
        if sums is None:
            groups[key] = list(ev.token_counts())
        else:
            for i, n in enumerate(ev.token_counts()):
                sums[i] += n
    return groups


def count_business(events: Iterable[UsageEvent], tenant_label: BoundedLabel, model_label: BoundedLabel) -> None:
    """Add the events' tokens to the per-tenant and per-model counters (one ``inc`` per series touched)."""
    count_groups(token_groups(events), tenant_label, model_label)


def count_groups(groups: Mapping[Group, Sequence[int]], tenant_label: BoundedLabel,
                 model_label: BoundedLabel) -> None:
    by_tenant: Tally[tuple[str, str]] = Tally()
    by_model: Tally[tuple[str, str, str]] = Tally()
    for (subject, provider, name), counts in groups.items():
        tenant = tenant_label(subject)
        if model_label(f"{provider}/{name}") == "other":
            provider, name = "other", "other"
        for token_class, n in zip(TOKEN_CLASSES, counts, strict=True):
            if n:
                by_tenant[tenant, token_class] += n
                by_model[provider, name, token_class] += n
    for (tenant, token_class), n in by_tenant.items():
        TENANT_TOKENS(tenant, token_class).inc(n)
    for (provider, name, token_class), n in by_model.items():
        MODEL_TOKENS(provider, name, token_class).inc(n)


class CostMeter:
    """Adds each window snapshot's increase in list money to the tenant and model cost counters.

    Snapshots are cumulative, so the increase is this snapshot's total minus the last one this
    process published for the window. After start-up or a rebalance the meter re-publishes every
    window it holds: those snapshots only ``seed`` the last totals, so nothing is counted twice in
    one process. Increases between another worker's last snapshot and this one's seed are not
    counted (named limitation: the counters are trends; ClickHouse has the exact money).
    """

    def __init__(self, tenant_label: BoundedLabel, model_label: BoundedLabel) -> None:
        self._tenant, self._model = tenant_label, model_label
        self._last: dict[bytes, dict[Hashable, Decimal]] = {}  # table key -> window -> last total

    def snapshot(self, group: bytes, key: Hashable, tenant: str, provider: str, model: str, total: Decimal,
                 currency: str, *, seed: bool = False) -> None:
        """``key`` names the window; ``group`` the table key that holds it (what expiry forgets)."""
        last = self._last.setdefault(group, {})
        previous = last.get(key)
        last[key] = total
        if seed:
            return
        grown = total - (previous or Decimal(0))
        if grown <= 0 or currency == "XXX":
            return
        label = self._model(f"{provider}/{model}")
        provider, model = (provider, model) if label != "other" else ("other", "other")
        TENANT_COST(self._tenant(tenant), currency).inc(float(grown))
        MODEL_COST(provider, model, currency).inc(float(grown))

    def move(self, old: bytes, new: bytes) -> None:
        """The windows of table key ``old`` are now held by ``new`` (an older-layout key moved
        into its group): keep their last totals, so their next snapshots count only growth."""
        moved = self._last.pop(old, None)
        if moved:
            self._last.setdefault(new, {}).update(moved)

    def forget(self, keys: Iterable[bytes]) -> None:
        """Drop windows that expired (they will not be published again)."""
        for key in keys:
            self._last.pop(key, None)
