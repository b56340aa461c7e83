"""Bills and prices over HTTP: a tenant's estimate, invoices and plan comparison; a model's price history.

The money is the same the CLI prints (both call tokenmeter.statements): exact
decimal strings, lines rounded as invoiced. A period still running is marked
``"estimate": true``. Tenant routes take the tenant from the path and pass
it through the same check as ``/v1/usage`` (a tenant key reads only itself).
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime, and their
# Annotated dependencies refer to local names that a deferred annotation could not resolve.

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from tokenmeter.api.auth import READ_RESPONSES, Access, ApiError
from tokenmeter.api.keys import ApiKey
from tokenmeter.errors import TokenmeterError
from tokenmeter.pricing import render
from tokenmeter.pricing.billing import BillingError, Period
from tokenmeter.pricing.book import PriceBook
from tokenmeter.pricing.plans import PlansFile
from tokenmeter.pricing.reports import price_trend
from tokenmeter.statements import billing_period, invoice_for, last_months, plan_comparison, previous_month
from tokenmeter.storage.clickhouse import ClickHouse


@dataclass(frozen=True, slots=True)
class Catalog:
    """What rating and billing read besides usage: the price book and the plans."""

    book: PriceBook
    plans: PlansFile
    default_plan: str | None


def billing_router(db: ClickHouse, access: Access, catalog: Catalog,
                   today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> APIRouter:
    router = APIRouter()
    Tenant = Annotated[str, Depends(access.tenant_in_path)]

    def statement_doc(tenant: str, period: Period) -> dict[str, Any]:
        try:
            st = invoice_for(db, catalog.plans, catalog.default_plan, tenant, period)
        except BillingError as exc:  # e.g. no plan in force, a currency change inside the period
            raise ApiError(409, "plans", str(exc)) from exc
        return {**render.as_dict(st.invoice, estimate=period.end > today()),
                "from": period.start.isoformat(), "to": period.end.isoformat(), "unpriced_models": st.unpriced}

    statement_responses = {**READ_RESPONSES, 409: {"description": "the tenant's plans cannot bill this period"}}

    @router.get("/v1/tenants/{tenant}/estimate", responses=statement_responses)
    async def estimate(tenant: Tenant) -> dict[str, Any]:
        """The bill of the period running today, from the usage stored so far."""
        period = billing_period(catalog.plans, tenant, None, today())
        return await db.arun(lambda: statement_doc(tenant, period))

    @router.get("/v1/tenants/{tenant}/invoices/{period}", responses=statement_responses)
    async def invoice(tenant: Tenant, period: Annotated[str, Path(description="billing month, e.g. 2026-11")]
                      ) -> dict[str, Any]:
        try:
            p = billing_period(catalog.plans, tenant, period, today())
        except TokenmeterError as exc:
            raise ApiError(400, "period", str(exc)) from exc
        return await db.arun(lambda: statement_doc(tenant, p))

    @router.get("/v1/tenants/{tenant}/plans/compare", responses=READ_RESPONSES)
    async def compare(tenant: Tenant,
                      months: Annotated[int, Query(ge=1, le=36)] = 3,
                      through: Annotated[str | None, Query(description="last month, e.g. 2026-11; default: "
                                                                       "the previous month")] = None
                      ) -> dict[str, Any]:
        """Every available plan on the tenant's real usage of the last months, cheapest first."""
        try:
            periods = last_months(through or previous_month(today()), months)
        except TokenmeterError as exc:
            raise ApiError(400, "through", str(exc)) from exc
        results, unpriced = await db.arun(lambda: plan_comparison(db, catalog.plans, tenant, periods))
        return {"tenant": tenant, "from": periods[0].name, "through": periods[-1].name, "unpriced_models": unpriced,
                "plans": [{"plan": r.plan.id, "name": r.plan.name, "currency": r.plan.currency, "total": str(r.total),
                           "monthly": [str(m) for m in r.monthly],
                           "break_even": None if r.break_even is None else str(r.break_even)} for r in results]}

    return router


def prices_router(access: Access, catalog: Catalog) -> APIRouter:
    router = APIRouter()
    Reader = Annotated[ApiKey, Depends(access.catalog_reader)]

    @router.get("/v1/prices/{model}/history", responses={**READ_RESPONSES, 404: {"description": "not in the book"}})
    async def history(_key: Reader, model: Annotated[str, Path(max_length=256)],
                      provider: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
        """A model's list price per token class over time (USD or the book's currency per 1M tokens)."""
        providers = [provider] if provider else sorted({m.provider for m in catalog.book.models()})
        found = [(p, pts) for p in providers if (pts := price_trend(catalog.book, p, model))]
        if not found:
            raise ApiError(404, "model", f"{model!r} is not in the price book"
                           + (f" for provider {provider!r}" if provider else ""))
        if len(found) > 1:
            raise ApiError(400, "provider", f"{model!r} is listed by {', '.join(p for p, _ in found)}: pass one")
        prov, points = found[0]
        return {"provider": prov, "model": model, "currency": catalog.book.book.currency, "unit": "per 1M tokens",
                "periods": [{"effective_from": p.effective_from.isoformat(),
                             "effective_to": p.effective_to.isoformat() if p.effective_to else None,
                             "per_million": {c: str(v) for c, v in p.per_million.items()}} for p in points]}

    return router
