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


def _window_filter(tenant: str | None) -> str:
    where = "window_start >= fromUnixTimestamp64Milli({from_ms:Int64}) " \
            "AND window_start < fromUnixTimestamp64Milli({to_ms:Int64})"
    return where + (" AND tenant = {tenant:String}" if tenant is not None else "")


def _range_params(from_ms: int, to_ms: int, tenant: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"from_ms": from_ms, "to_ms": to_ms}
    if tenant is not None:
        params["tenant"] = tenant
    return params


def recomputed_windows(from_ms: int, to_ms: int, tenant: str | None = None) -> Query:
    """Window totals recomputed from the stored events (one row per distinct (tenant, id))."""
    sql = (
        "SELECT tenant, toUnixTimestamp64Milli(window_start) AS start_ms, provider, model, service_tier, "
        f"price_band, count() AS events, sum(requests) AS requests, {_TOKEN_SUMS}, max(position) AS version "
        f"FROM usage_events FINAL WHERE {_window_filter(tenant)} "
        "GROUP BY tenant, window_start, provider, model, service_tier, price_band"
    )
    return sql, _range_params(from_ms, to_ms, tenant)


def stored_windows(from_ms: int, to_ms: int, tenant: str | None = None) -> Query:
    """The latest stored snapshot of every window in range."""
    tokens = ", ".join(TOKEN_CLASSES)
    sql = (
        "SELECT tenant, toUnixTimestamp64Milli(window_start) AS start_ms, provider, model, service_tier, "
        f"price_band, events, requests, {tokens}, version, cost_total "
        f"FROM usage_windows FINAL WHERE {_window_filter(tenant)}"
    )
    return sql, _range_params(from_ms, to_ms, tenant)


def period_usage(tenant: str, from_ms: int, to_ms: int) -> Query:
    """Tokens and exact list money per (provider, model) of one tenant, windows starting in [from, to)."""
    tokens = " + ".join(f"sum({c})" for c in TOKEN_CLASSES)
    sql = (
        f"SELECT provider, model, {tokens} AS tokens, sum(cost_total) AS cost, groupUniqArray(currency) "
        f"FROM usage_windows FINAL WHERE {_window_filter(tenant)} GROUP BY provider, model ORDER BY provider, model"
    )
    return sql, _range_params(from_ms, to_ms, tenant)


def monthly_cost(tenant: str) -> Query:
    """(month, tokens, exact money) of one tenant, every month it has windows in."""
    tokens = " + ".join(f"sum({c})" for c in TOKEN_CLASSES)
    sql = (
        f"SELECT formatDateTime(window_start, '%Y-%m') AS month, {tokens} AS tokens, sum(cost_total) AS cost "
        "FROM usage_windows FINAL WHERE tenant = {tenant:String} GROUP BY month ORDER BY month"
    )
    return sql, {"tenant": tenant}


def active_tenants(from_ms: int, to_ms: int) -> Query:
    """Tenants with any window starting in [from, to)."""
    sql = f"SELECT DISTINCT tenant FROM usage_windows WHERE {_window_filter(None)} ORDER BY tenant"
    return sql, _range_params(from_ms, to_ms, None)


def alerts_sent(period: str) -> Query:
    return "SELECT tenant, level FROM budget_alerts FINAL WHERE period = {period:String}", {"period": period}


def credits_used_before(tenant: str, period: str) -> Query:
    """Prepaid credit drawn per credit id by the latest stored (non-estimate) invoice of every earlier period."""
    sql = (
        "SELECT extract(description, 'prepaid credit ([A-Za-z0-9_.-]+)$') AS credit, -sum(amount) AS used "
        "FROM invoice_lines WHERE tenant = {tenant:String} AND period < {period:String} AND NOT estimate "
        "AND (period, issued_at) IN (SELECT period, max(issued_at) FROM invoice_lines "
        "WHERE tenant = {tenant:String} AND NOT estimate GROUP BY period) "
        "AND credit != '' GROUP BY credit"
    )
    return sql, {"tenant": tenant, "period": period}


BUCKETS: dict[str, str] = {  # window -> ClickHouse bucket expression over window_start (tz bound as a parameter)
    "minute": "toStartOfMinute(window_start, {tz:String})",
    "hour": "toStartOfHour(window_start, {tz:String})",
    "day": "toStartOfDay(window_start, {tz:String})",
    "month": "toDateTime(toStartOfMonth(window_start, {tz:String}), {tz:String})",
}
GROUPS = ("provider", "model", "service_tier", "token_class")


def usage_series(tenant: str, from_ms: int, to_ms: int, window: str, group_by: tuple[str, ...], tz: str) -> Query:
    """Tokens and exact money per bucket (and per group), for one tenant, windows starting in [from, to).

    ``window`` and ``group_by`` must come from BUCKETS and GROUPS (only those identifiers ever reach
    the SQL text); every value is bound. Grouping by token_class reads the by-class view.
    """
    if window not in BUCKETS:
        raise ValueError(f"window must be one of {sorted(BUCKETS)}")
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; allowed: {list(GROUPS)}")
    groups = "".join(f", {g}" for g in group_by)
    if "token_class" in group_by:
        measures, source = "sum(tokens) AS tokens, sum(cost) AS cost", "usage_windows_by_class"
    else:
        token_sum = " + ".join(f"sum({c})" for c in TOKEN_CLASSES)
        measures, source = f"{token_sum} AS tokens, sum(cost_total) AS cost", "usage_windows FINAL"
    bucket = BUCKETS[window]
    sql = (
        f"SELECT toUnixTimestamp64Milli(toDateTime64({bucket}, 3)) AS bucket_ms{groups}, {measures}, "
        f"currency FROM {source} WHERE {_window_filter(tenant)} "
        f"GROUP BY bucket_ms{groups}, currency HAVING tokens != 0 OR cost != 0 "
        f"ORDER BY bucket_ms{groups}, currency"
    )
    return sql, {**_range_params(from_ms, to_ms, tenant), "tz": tz}
