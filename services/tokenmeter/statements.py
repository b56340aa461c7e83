"""Invoices and plan comparisons from stored usage: the I/O around the pure billing arithmetic.

The CLI (``tokenmeter invoice``, ``tokenmeter plans compare``) and the HTTP API
(``/v1/tenants/{tenant}/...``) call these, so both print the same money.
Calls are synchronous: the API runs them on the ClickHouse adapter's thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from tokenmeter.pricing.billing import Period, anchor_day, bill, current_period, month, spans
from tokenmeter.pricing.invoice import Invoice
from tokenmeter.pricing.plans import ModelUsage, PlansFile
from tokenmeter.pricing.reports import PlanCost, compare_plans
from tokenmeter.storage.clickhouse import ClickHouse
from tokenmeter.storage.queries import credits_used_before, period_usage
from tokenmeter.storage.rows import model_usage


@dataclass(frozen=True, slots=True)
class Statement:
    invoice: Invoice
    period: Period
    unpriced: list[str] = field(default_factory=list)  # models with usage but no list price: counted, not billed


def billing_period(plans: PlansFile, tenant: str, name: str | None, today: date) -> Period:
    """The named month (anchored on the tenant's billing day) or the period containing ``today``.

    Raises ``BillingError`` for a malformed name.
    """
    return month(name, anchor_day(plans, tenant)) if name else current_period(plans, tenant, today)


def invoice_for(db: ClickHouse, plans: PlansFile, default_plan: str | None, tenant: str,
                period: Period) -> Statement:
    """The tenant's invoice for ``period`` from what ClickHouse holds now (an estimate while the period runs)."""
    unpriced: list[str] = []

    def usage_of(start: date, end: date) -> dict[str, ModelUsage]:
        return _usage(db, tenant, period.ms(start), period.ms(end), unpriced)

    used = {c: u for c, u in db.query(*credits_used_before(tenant, period.name))} if plans.credits else {}
    inv = bill(tenant, period, spans(plans, tenant, period, default_plan), usage_of, credits=plans.credits,
               used_before=used)
    return Statement(inv, period, sorted(set(unpriced)))


def last_months(through: str, count: int) -> list[Period]:
    """``count`` calendar months ending with ``through`` (``YYYY-MM``), oldest first."""
    periods = [month(through)]
    while len(periods) < count:
        periods.insert(0, month((periods[0].start - timedelta(days=1)).strftime("%Y-%m")))
    return periods


def previous_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def plan_comparison(db: ClickHouse, plans: PlansFile, tenant: str,
                    periods: list[Period]) -> tuple[list[PlanCost], list[str]]:
    """Each available plan on the tenant's real usage of ``periods``, cheapest first; and the unpriced models."""
    unpriced: list[str] = []
    usage = [_usage(db, tenant, p.ms(p.start), p.ms(p.end), unpriced) for p in periods]
    return compare_plans(plans.plans, usage), sorted(set(unpriced))


def _usage(db: ClickHouse, tenant: str, from_ms: int, to_ms: int, unpriced: list[str]) -> dict[str, ModelUsage]:
    usage, missing = model_usage(db.query(*period_usage(tenant, from_ms, to_ms)))
    unpriced.extend(missing)
    return usage
