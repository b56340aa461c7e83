"""Read queries as ``(sql, parameters)``: values are always bound, never formatted into SQL."""

from __future__ import annotations

from typing import Any

from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.storage.rows import COST_COLUMNS

Query = tuple[str, dict[str, Any]]

_TOKEN_SUMS = ", ".join(f"sum({c}) AS {c}" for c in TOKEN_CLASSES)
_COST_SUMS = ", ".join(f"sum({c}) AS {c}" for c in COST_COLUMNS)


def tenant_totals(tenant: str | None = None) -> Query:
    """Rated totals per tenant, model and currency over all stored windows (latest snapshots only)."""
    where = "WHERE tenant = {tenant:String}" if tenant is not None else ""
    sql = (
        "SELECT tenant, provider, model, currency, sum(requests) AS requests, "
        f"{_TOKEN_SUMS}, {_COST_SUMS}, sum(request_cost) AS request_cost, sum(cost_total) AS cost_total, "
        "max(unpriced) AS unpriced, max(window_end) AS last_window_end "
        f"FROM usage_windows FINAL {where} "
        "GROUP BY tenant, provider, model, currency ORDER BY tenant, provider, model, currency"
    )
    return sql, ({"tenant": tenant} if tenant is not None else {})
