"""Billing plans and what each one charges for a period's usage. Pure.

Input is a period's usage per model: tokens and their exact list-price cost
(from the rated windows). Output is invoice lines (pricing.invoice), each
rounded once. Semantics, one per plan type (worked examples in
tests/pricing/test_plans.py):

- ``pay_as_you_go``: one line per model at the book price (list, or the tenant's terms from the
  price book); a plan discount is one
  negative line of ``discount_percent`` of the exact list subtotal.
- ``subscription``: a fee line; ``included_tokens`` are free and only tokens
  beyond them are billed at ``overage_per_million``; or ``included_credit``
  is money that absorbs list-price usage, and usage beyond it is billed at list.
- ``tiered``: all tokens of the period against tiers priced per 1M tokens,
  ``graduated`` (each token at its tier) or ``volume`` (all at the tier of the
  total); one line per tier reached.
- ``package``: tokens sold in blocks of ``block_tokens``, rounded up.
- ``minimum_commitment`` (any plan): if the lines add up to less, a true-up
  line brings the invoice to the minimum.

Proration: a plan in force for only part of a period is evaluated with
``fraction`` = days in force / days in the period (an exact Fraction). Fixed fees, included
tokens and credits, and the minimum are multiplied by it (included tokens
rounded down to whole tokens); usage charges are not (the usage passed in is
already only the usage of those days).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tokenmeter.pricing.invoice import Line, line
from tokenmeter.pricing.tiers import Tier, graduated, package, volume

MILLION = 1_000_000
ZERO = Decimal(0)
Money = Annotated[Decimal, Field(ge=0, decimal_places=6)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PayAsYouGo(_Strict):
    type: Literal["pay_as_you_go"] = "pay_as_you_go"
    discount_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = ZERO


class Subscription(_Strict):
    type: Literal["subscription"] = "subscription"
    monthly_fee: Money
    included_tokens: int = Field(default=0, ge=0)
    overage_per_million: Money | None = Field(default=None, description="required with included_tokens")
    included_credit: Money = ZERO

    @model_validator(mode="after")
    def _one_allowance(self) -> Subscription:
        if self.included_tokens and self.included_credit:
            raise ValueError("choose included_tokens or included_credit, not both")
        if self.included_tokens and self.overage_per_million is None:
            raise ValueError("included_tokens needs overage_per_million (the price of tokens beyond them)")
        return self


class TierSpec(_Strict):
    up_to_tokens: int | None = Field(ge=1, description="inclusive bound of the period's tokens; null: no bound")
    price_per_million: Money
    flat_fee: Money = ZERO


class Tiered(_Strict):
    type: Literal["tiered"] = "tiered"
    mode: Literal["graduated", "volume"]
    tiers: list[TierSpec] = Field(min_length=1)


class Package(_Strict):
    type: Literal["package"] = "package"
    block_tokens: int = Field(ge=1)
    block_price: Money


Pricing = Annotated[PayAsYouGo | Subscription | Tiered | Package, Field(discriminator="type")]


class Plan(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    name: str
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    pricing: Pricing
    minimum_commitment: Money | None = None
    billing_period: Literal["calendar", "anniversary"] = Field(
        default="calendar", description="calendar months, or months from the day the tenant joined")
    budget_soft: Money | None = Field(default=None, description="alert when the month-to-date bill reaches it")
    budget_hard: Money | None = Field(default=None, description="alert (level hard) when the bill reaches it")

    @model_validator(mode="after")
    def _soft_below_hard(self) -> Plan:
        if self.budget_soft is not None and self.budget_hard is not None and self.budget_soft > self.budget_hard:
            raise ValueError("budget_soft must not exceed budget_hard")
        return self


class Assignment(_Strict):
    """Tenant ``tenant`` is on plan ``plan`` from ``effective_from`` (inclusive) to ``effective_to`` (exclusive)."""

    tenant: str = Field(min_length=1)
    plan: str
    effective_from: date
    effective_to: date | None = None


class CreditGrant(_Strict):
    """Prepaid credit: ``amount`` a tenant may draw down against charges for days in
    [granted_on, expires_on). What is left at expiry is forfeited."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    tenant: str = Field(min_length=1)
    amount: Money
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    granted_on: date
    expires_on: date | None = None


class PlansFile(_Strict):
    """A plans file: the plans on offer, who is on which when, and prepaid credits."""

    version: int = Field(1, ge=1, le=1)
    plans: list[Plan]
    assignments: list[Assignment] = Field(default_factory=list)
    credits: list[CreditGrant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> PlansFile:
        ids = [p.id for p in self.plans]
        if len(ids) != len(set(ids)):
            raise ValueError("plan ids must be unique")
        by_tenant: dict[str, list[Assignment]] = {}
        for a in self.assignments:
            if a.plan not in ids:
                raise ValueError(f"assignment of {a.tenant!r} names unknown plan {a.plan!r}")
            if a.effective_to is not None and a.effective_to <= a.effective_from:
                raise ValueError(f"assignment of {a.tenant!r}: effective_to must be after effective_from")
            by_tenant.setdefault(a.tenant, []).append(a)
        for tenant, spans in by_tenant.items():
            spans.sort(key=lambda a: a.effective_from)
            for earlier, later in pairwise(spans):
                if earlier.effective_to is None or earlier.effective_to > later.effective_from:
                    raise ValueError(f"{tenant!r} is on two plans at once from {later.effective_from}")
        return self


@dataclass(frozen=True, slots=True)
class ModelUsage:
    tokens: int
    list_cost: Decimal  # exact, from the rated windows


def plan_lines(plan: Plan, usage: Mapping[str, ModelUsage], *, fraction: Fraction = Fraction(1)) -> list[Line]:
    """Invoice lines for ``usage`` (model label -> usage) under ``plan`` in force for ``fraction`` of the period."""
    cur = plan.currency
    p = plan.pricing
    tokens = sum(u.tokens for u in usage.values())
    list_total = sum((u.list_cost for u in usage.values()), ZERO)
    lines: list[Line]
    if isinstance(p, PayAsYouGo):
        lines = [line(f"{model} metered usage", Decimal(u.tokens) / MILLION, "1M tokens",
                      _per_million(u), cur, exact_amount=u.list_cost) for model, u in sorted(usage.items())]
        if p.discount_percent:
            lines.append(line(f"discount {_plain(p.discount_percent)} %", 1, "discount",
                              -list_total * p.discount_percent / 100, cur))
    elif isinstance(p, Subscription):
        lines = [line("subscription fee", _dec(fraction), "month", p.monthly_fee, cur,
                      exact_amount=_scale(p.monthly_fee, fraction))]
        lines += _subscription_usage(p, tokens, list_total, fraction, cur)
    elif isinstance(p, Tiered):
        tiers = [Tier(t.up_to_tokens, t.price_per_million, t.flat_fee) for t in p.tiers]
        charges = graduated(tokens, tiers, MILLION) if p.mode == "graduated" else \
            [c for c in [volume(tokens, tiers, MILLION)] if c is not None]
        lines = [line(f"tier {c.tier + 1} ({p.mode})", Decimal(c.units) / MILLION, "1M tokens", c.unit_price, cur,
                      exact_amount=c.amount) for c in charges]
    else:
        blocks, amount = package(tokens, p.block_tokens, p.block_price)
        lines = [line(f"{p.block_tokens:,} token blocks", blocks, "block", p.block_price, cur, exact_amount=amount)]
    if plan.minimum_commitment is not None:
        minimum = _scale(plan.minimum_commitment, fraction)
        billed = sum((ln.amount for ln in lines), ZERO)
        if billed < minimum:
            lines.append(line("minimum commitment true-up", 1, "true-up", minimum - billed, cur))
    return lines


def _subscription_usage(p: Subscription, tokens: int, list_total: Decimal, fraction: Fraction,
                        cur: str) -> list[Line]:
    out = []
    if p.included_tokens:
        included = p.included_tokens * fraction.numerator // fraction.denominator  # whole tokens, rounded down
        over = max(0, tokens - included)
        if over:
            assert p.overage_per_million is not None  # enforced by the model
            out.append(line(f"overage beyond {included:,} included tokens", Decimal(over) / MILLION, "1M tokens",
                            p.overage_per_million, cur))
    elif p.included_credit:
        credit = _scale(p.included_credit, fraction)
        if list_total > credit:
            out.append(line(f"usage beyond {_plain(credit)} {cur} included credit", 1, "usage",
                            list_total - credit, cur))
    else:
        out.append(line("metered usage", 1, "usage", list_total, cur))
    return out


def _scale(amount: Decimal, fraction: Fraction) -> Decimal:
    """``amount * fraction``: exact when the fraction is whole, else to 28 significant digits
    (far below the minor unit the line is rounded to)."""
    return amount * fraction.numerator / fraction.denominator


def _dec(fraction: Fraction) -> Decimal:
    return Decimal(fraction.numerator) / Decimal(fraction.denominator)


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")  # 50, 12.5, 16.666667 (never 5E+1)


def _per_million(u: ModelUsage) -> Decimal:
    """Average list price per 1M tokens, for display only (the amount is the exact list cost)."""
    return (u.list_cost * MILLION / u.tokens).quantize(Decimal("0.000001")) if u.tokens else ZERO
