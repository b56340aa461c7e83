"""Business metrics from counted events: tokens by tenant and by model, through bounded labels."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from tokenmeter.events.models import TOKEN_CLASSES, UsageEvent
from tokenmeter.observability import metrics
from tokenmeter.observability.bounded import BoundedLabel


def count_business(events: Iterable[UsageEvent], tenant_label: BoundedLabel, model_label: BoundedLabel) -> None:
    """Add the events' tokens to the per-tenant and per-model counters (one ``inc`` per series touched)."""
    by_tenant: Tally[tuple[str, str]] = Tally()
    by_model: Tally[tuple[str, str, str]] = Tally()
    for ev in events:
        tenant = tenant_label(ev.subject)
        model = model_label(f"{ev.data.provider}/{ev.data.model}")
        provider, name = (ev.data.provider, ev.data.model) if model != "other" else ("other", "other")
        for token_class, n in zip(TOKEN_CLASSES, ev.token_counts(), strict=True):
            if n:
                by_tenant[tenant, token_class] += n
                by_model[provider, name, token_class] += n
    for (tenant, token_class), n in by_tenant.items():
        metrics.TENANT_TOKENS.labels(tenant, token_class).inc(n)
    for (provider, name, token_class), n in by_model.items():
        metrics.MODEL_TOKENS.labels(provider, name, token_class).inc(n)
