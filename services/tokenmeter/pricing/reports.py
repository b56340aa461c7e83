"""The reports the seed study asks for: price trends, effective cost trends, plan comparison. Pure.

- :func:`price_trend`: a model's list price per token class for each period of the book.
- :func:`cost_trend`: per month, what a tenant actually paid per 1M tokens (money / tokens).
- :func:`compare_plans`: what the tenant's real monthly usage would have cost under each plan,
  cheapest first, and each plan's break-even against the cheapest: the factor by which the
  tenant's usage would have to scale (every model's tokens and list money alike) for the two
  to cost the same, found by bisection on [0, 100] (None when they never meet there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.pricing.book import PriceBook
from tokenmeter.pricing.invoice import invoice
from tokenmeter.pricing.plans import ModelUsage, Plan, plan_lines

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class PricePoint:
    effective_from: date
    effective_to: date | None
    per_million: dict[str, Decimal]  # token class -> price (classes without a price are absent)


def price_trend(book: PriceBook, provider: str, model: str) -> list[PricePoint]:
    """Every period of ``provider/model`` (or an alias), oldest first. Empty if the book lacks it."""
    for entry in book.models():
        if entry.provider == provider and model in (entry.model, *entry.aliases):
            return [PricePoint(p.effective_from, p.effective_to,
                               {c: p.per_million[c] for c in TOKEN_CLASSES if c in p.per_million})
                    for p in sorted(entry.periods, key=lambda p: p.effective_from)]
    return []


@dataclass(frozen=True, slots=True)
class CostPoint:
    month: str
    tokens: int
    money: Decimal

    @property
    def per_million(self) -> Decimal | None:
        return self.money * MILLION / self.tokens if self.tokens else None


def cost_trend(rows: Sequence[tuple[str, int, Decimal]]) -> list[CostPoint]:
    """(month, tokens, money) rows -> points in month order."""
    return [CostPoint(m, int(t), Decimal(c)) for m, t, c in sorted(rows)]


@dataclass(frozen=True, slots=True)
class PlanCost:
    plan: Plan
    total: Decimal                # over all months compared, rounded lines summed
    monthly: tuple[Decimal, ...]
    break_even: Decimal | None    # usage factor at which it costs the same as the cheapest


def _cost(plan: Plan, months: Sequence[Mapping[str, ModelUsage]], factor: Decimal = Decimal(1),
          *, exact: bool = False) -> Decimal:
    """Billed money (rounded lines, as invoiced) or, with ``exact``, the unrounded sum (break-evens)."""
    total = Decimal(0)
    for usage in months:
        scaled = {m: ModelUsage(int(u.tokens * factor), u.list_cost * factor) for m, u in usage.items()}
        lines = plan_lines(plan, scaled)
        total += sum((ln.exact_amount for ln in lines), Decimal(0)) if exact else \
            invoice("", "", plan.currency, lines).total
    return total


def compare_plans(plans: Sequence[Plan], months: Sequence[Mapping[str, ModelUsage]]) -> list[PlanCost]:
    """Cheapest first (ties by plan id). Each month is billed as a whole month on the plan."""
    costs = sorted(((p, [_cost(p, [m]) for m in months]) for p in plans), key=lambda pc: (sum(pc[1]), pc[0].id))
    if not costs:
        return []
    best = costs[0][0]

    def against_best(plan: Plan) -> Callable[[Decimal], Decimal]:
        return lambda f: _cost(plan, months, f, exact=True) - _cost(best, months, f, exact=True)

    return [PlanCost(p, sum(monthly, Decimal(0)), tuple(monthly),
                     None if p is best else _break_even(against_best(p)))
            for p, monthly in costs]


def _break_even(diff: Callable[[Decimal], Decimal]) -> Decimal | None:
    """A factor in [0, 100] where ``diff`` changes sign, to 4 decimals; None if it never does."""
    lo, hi = Decimal(0), Decimal(100)
    d_lo, d_hi = diff(lo), diff(hi)
    if d_lo == 0:
        return lo
    if (d_lo > 0) == (d_hi > 0):
        return None
    for _ in range(40):
        mid = (lo + hi) / 2
        d_mid = diff(mid)
        if (d_mid > 0) == (d_lo > 0):
            lo, d_lo = mid, d_mid
        else:
            hi = mid
    return hi.quantize(Decimal("0.0001"))
