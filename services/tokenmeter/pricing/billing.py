"""Billing periods, which plan is in force when, and the invoice of a period. Pure.

Periods are calendar months in UTC (``2026-11`` is [2026-11-01, 2026-12-01)), or
anniversary months: a plan with ``billing_period: anniversary`` bills from the day
of month the tenant joined (``2026-11`` is then e.g. [2026-11-15, 2026-12-15)).
Prepaid credits: spans are also cut where a credit starts or expires, so every
span has one set of usable credits; a span's rounded lines are then drawn down
from those credits, the one expiring first first (ties by id), as one negative
line per credit ("prepaid credit <id>"). ``used_before`` says how much of each
credit earlier invoices consumed.
A tenant's assignments are cut to the period; each piece is a *span* billed
under its plan with ``fraction`` = days of the span / days of the month
(pricing.plans prorates fixed fees, allowances and minimums by it). Days
without any assignment are billed under the default plan, when one is given,
else not at all (and reported as uncovered).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

from tokenmeter.errors import TokenmeterError
from tokenmeter.pricing.invoice import Invoice, Line, invoice, line
from tokenmeter.pricing.plans import CreditGrant, ModelUsage, Plan, PlansFile, plan_lines

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class BillingError(TokenmeterError):
    """A period, plan or assignment that cannot be billed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Period:
    name: str  # "2026-11"
    start: date
    end: date  # exclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def ms(self, day: date) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def month(name: str, anchor_day: int = 1) -> Period:
    """``YYYY-MM`` -> that month in UTC, from ``anchor_day`` to the same day of the next month
    (1: the calendar month). Raises ``BillingError`` on any other form."""
    m = _PERIOD.match(name)
    if not m:
        raise BillingError(f"period {name!r} must look like 2026-11 (a calendar month)")
    if not 1 <= anchor_day <= 28:
        raise BillingError(f"anchor day {anchor_day} must be 1..28 (every month has it)")
    year, mon = int(m[1]), int(m[2])
    end = date(year + (mon == 12), 1 if mon == 12 else mon + 1, anchor_day)
    return Period(name, date(year, mon, anchor_day), end)


def anchor_day(plans: PlansFile, tenant: str) -> int:
    """1 for calendar billing; for anniversary billing, the day of month the tenant's first
    assignment began (days 29-31 bill from the 28th, so every month has the day)."""
    first = min((a for a in plans.assignments if a.tenant == tenant), key=lambda a: a.effective_from, default=None)
    if first is None:
        return 1
    plan = next(p for p in plans.plans if p.id == first.plan)
    return min(first.effective_from.day, 28) if plan.billing_period == "anniversary" else 1


def current_period(plans: PlansFile, tenant: str, today: date) -> Period:
    """The billing period of ``tenant`` that contains ``today`` (calendar or anniversary)."""
    anchor = anchor_day(plans, tenant)
    start_month = date(today.year, today.month, 1)
    if today.day < anchor:  # still in the period that began last month
        start_month = date(today.year - (today.month == 1), 12 if today.month == 1 else today.month - 1, 1)
    return month(start_month.strftime("%Y-%m"), anchor)


@dataclass(frozen=True, slots=True)
class Span:
    plan: Plan
    start: date
    end: date  # exclusive
    fraction: Fraction


def spans(plans: PlansFile, tenant: str, period: Period, default_plan: str | None = None) -> list[Span]:
    """The plans in force for ``tenant`` during ``period``, in order, covering it with the default if given."""
    by_id = {p.id: p for p in plans.plans}
    if default_plan is not None and default_plan not in by_id:
        raise BillingError(f"default plan {default_plan!r} is not in the plans file")
    pieces: list[tuple[date, date, str]] = []
    for a in sorted((a for a in plans.assignments if a.tenant == tenant), key=lambda a: a.effective_from):
        start = max(a.effective_from, period.start)
        end = min(a.effective_to or period.end, period.end)
        if start < end:
            pieces.append((start, end, a.plan))
    if default_plan is not None:
        gaps, cursor = [], period.start
        for start, end, _ in pieces:
            if cursor < start:
                gaps.append((cursor, start, default_plan))
            cursor = max(cursor, end)
        if cursor < period.end:
            gaps.append((cursor, period.end, default_plan))
        pieces = sorted(pieces + gaps)
    return [Span(by_id[plan], start, end, Fraction((end - start).days, period.days)) for start, end, plan in pieces]


def cut(plan_spans: list[Span], period: Period, at: Sequence[date]) -> list[Span]:
    """``plan_spans`` split at every date of ``at`` that falls strictly inside one (fractions follow)."""
    out = []
    for s in plan_spans:
        edges = [s.start, *sorted({d for d in at if s.start < d < s.end}), s.end]
        out += [Span(s.plan, a, b, Fraction((b - a).days, period.days)) for a, b in pairwise(edges)]
    return out


def bill(tenant: str, period: Period, plan_spans: list[Span],
         usage_of: Callable[[date, date], Mapping[str, ModelUsage]], *,
         credits: Sequence[CreditGrant] = (), used_before: Mapping[str, Decimal] | None = None) -> Invoice:
    """The invoice: each span's plan applied to that span's usage (``usage_of(start, end)``).

    All spans must share one currency. With more than one span, each line is
    prefixed by its plan and dates, so a mid-period change reads as two blocks.
    """
    if not plan_spans:
        raise BillingError(f"tenant {tenant!r} has no plan in force during {period.name}")
    currencies = {s.plan.currency for s in plan_spans}
    if len(currencies) > 1:
        raise BillingError(f"{tenant!r} changes currency within {period.name} ({sorted(currencies)}): not billable "
                           "on one invoice")
    currency = currencies.pop()
    grants = sorted((g for g in credits if g.tenant == tenant and g.currency == currency),
                    key=lambda g: (g.expires_on or date.max, g.id))
    if grants:
        plan_spans = cut(plan_spans, period, [d for g in grants for d in (g.granted_on, g.expires_on) if d])
    balance = {g.id: g.amount - (used_before or {}).get(g.id, Decimal(0)) for g in grants}
    lines: list[Line] = []
    for span in plan_spans:
        label = f"{span.plan.name} {span.start.isoformat()}..{span.end.isoformat()}: " if len(plan_spans) > 1 else ""
        span_lines = [Line(label + ln.description, ln.quantity, ln.unit, ln.unit_price, ln.exact_amount, ln.amount)
                      for ln in plan_lines(span.plan, usage_of(span.start, span.end), fraction=span.fraction)]
        due = sum((ln.amount for ln in span_lines), Decimal(0))
        for g in grants:
            usable = g.granted_on <= span.start and (g.expires_on is None or span.end <= g.expires_on)
            take = min(balance[g.id], due) if usable and due > 0 else Decimal(0)
            if take > 0:
                span_lines.append(line(f"{label}prepaid credit {g.id}", 1, "credit", -take, currency))
                balance[g.id] -= take
                due -= take
        lines += span_lines
    return invoice(tenant, period.name, currency, lines)
