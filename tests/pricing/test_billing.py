"""Periods, plan spans with proration, and whole invoices (golden), including a mid-period change."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenmeter.pricing.billing import BillingError, anchor_day, bill, current_period, month, spans
from tokenmeter.pricing.plans import ModelUsage, PlansFile

D = Decimal
PLANS = PlansFile.model_validate({
    "plans": [
        {"id": "payg", "name": "Pay as you go", "pricing": {"type": "pay_as_you_go"}},
        {"id": "pro", "name": "Pro", "pricing": {"type": "subscription", "monthly_fee": "300",
                                                 "included_tokens": 30_000_000, "overage_per_million": "2"}},
    ],
    "assignments": [
        {"tenant": "acme", "plan": "payg", "effective_from": "2026-01-01", "effective_to": "2026-11-21"},
        {"tenant": "acme", "plan": "pro", "effective_from": "2026-11-21"},
    ],
})


def test_months_and_their_days() -> None:
    assert (month("2026-11").start, month("2026-11").end, month("2026-11").days) == (date(2026, 11, 1),
                                                                                     date(2026, 12, 1), 30)
    assert month("2026-12").end == date(2027, 1, 1)
    assert month("2028-02").days == 29
    with pytest.raises(BillingError, match="must look like 2026-11"):
        month("2026-13")


def test_a_mid_month_change_gives_two_prorated_spans() -> None:
    got = [(s.plan.id, s.start, s.end, s.fraction) for s in spans(PLANS, "acme", month("2026-11"))]
    assert got == [("payg", date(2026, 11, 1), date(2026, 11, 21), Fraction(2, 3)),
                   ("pro", date(2026, 11, 21), date(2026, 12, 1), Fraction(1, 3))]


def test_days_without_a_plan_use_the_default_or_are_not_billed() -> None:
    assert spans(PLANS, "newco", month("2026-11")) == []
    [only] = spans(PLANS, "newco", month("2026-11"), default_plan="payg")
    assert (only.plan.id, only.fraction) == ("payg", Fraction(1))
    with pytest.raises(BillingError, match="has no plan in force during 2026-11"):
        bill("newco", month("2026-11"), [], lambda a, b: {})


def test_golden_invoice_for_a_mid_month_upgrade() -> None:
    usage = {  # what ClickHouse would return per span
        (date(2026, 11, 1), date(2026, 11, 21)): {"openai/gpt-4o": ModelUsage(8_000_000, D("41.234567"))},
        (date(2026, 11, 21), date(2026, 12, 1)): {"openai/gpt-4o": ModelUsage(14_000_000, D("70.5"))},
    }
    inv = bill("acme", month("2026-11"), spans(PLANS, "acme", month("2026-11")), lambda a, b: usage[(a, b)])
    assert [(ln.description, ln.amount) for ln in inv.lines] == [
        ("Pay as you go 2026-11-01..2026-11-21: openai/gpt-4o metered usage", D("41.23")),
        ("Pro 2026-11-21..2026-12-01: subscription fee", D("100.00")),             # 300 x 10/30
        ("Pro 2026-11-21..2026-12-01: overage beyond 10,000,000 included tokens", D("8.00")),  # 4M x $2
    ]
    assert inv.total == D("149.23")


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=12))
def test_splitting_usage_into_windows_never_changes_the_invoice(window_tokens: list[int]) -> None:
    # Windows carry exact money; summing any split of the same tokens gives the same period usage.
    price = D("2.5") / 1_000_000
    whole = ModelUsage(sum(window_tokens), sum(window_tokens) * price)
    summed = ModelUsage(sum(window_tokens), sum((t * price for t in window_tokens), D(0)))
    [s] = spans(PLANS, "acme", month("2026-10"))
    one = bill("acme", month("2026-10"), [s], lambda a, b: {"m": whole})
    many = bill("acme", month("2026-10"), [s], lambda a, b: {"m": summed})
    assert one == many


def test_golden_prepaid_credit_that_expires_inside_the_period() -> None:
    plans = PlansFile.model_validate({
        "plans": [{"id": "payg", "name": "PAYG", "pricing": {"type": "pay_as_you_go"}}],
        "assignments": [{"tenant": "acme", "plan": "payg", "effective_from": "2026-01-01"}],
        "credits": [
            {"id": "c1", "tenant": "acme", "amount": "50", "granted_on": "2026-10-01", "expires_on": "2026-11-16"},
            {"id": "c2", "tenant": "acme", "amount": "30", "granted_on": "2026-11-10"},
        ],
    })
    nov = month("2026-11")
    usage = {date(2026, 11, 1): D(25), date(2026, 11, 10): D(20), date(2026, 11, 16): D(60)}
    inv = bill("acme", nov, spans(plans, "acme", nov), lambda a, b: {"openai/gpt-4o": ModelUsage(1, usage[a])},
               credits=plans.credits)
    assert [(ln.description, ln.amount) for ln in inv.lines] == [
        ("PAYG 2026-11-01..2026-11-10: openai/gpt-4o metered usage", D("25.00")),
        ("PAYG 2026-11-01..2026-11-10: prepaid credit c1", D("-25.00")),
        ("PAYG 2026-11-10..2026-11-16: openai/gpt-4o metered usage", D("20.00")),
        ("PAYG 2026-11-10..2026-11-16: prepaid credit c1", D("-20.00")),   # c1 expires first, so it goes first
        ("PAYG 2026-11-16..2026-12-01: openai/gpt-4o metered usage", D("60.00")),
        ("PAYG 2026-11-16..2026-12-01: prepaid credit c2", D("-30.00")),   # c1's last $5 expired unused
    ]
    assert inv.total == D("30.00")
    # What earlier invoices used is not available again.
    again = bill("acme", nov, spans(plans, "acme", nov), lambda a, b: {"m": ModelUsage(1, usage[a])},
                 credits=plans.credits, used_before={"c1": D(40)})
    assert [ln.amount for ln in again.lines if "credit" in ln.description] == [D("-10.00"), D("-20.00"), D("-10.00")]


def test_anniversary_billing_runs_from_the_day_the_tenant_joined() -> None:
    plans = PlansFile.model_validate({
        "plans": [{"id": "team", "name": "Team", "billing_period": "anniversary",
                   "pricing": {"type": "subscription", "monthly_fee": "90"}}],
        "assignments": [{"tenant": "acme", "plan": "team", "effective_from": "2026-03-15"},
                        {"tenant": "late", "plan": "team", "effective_from": "2026-01-31"}],
    })
    assert anchor_day(plans, "acme") == 15 and anchor_day(plans, "late") == 28 and anchor_day(plans, "x") == 1
    nov = month("2026-11", anchor_day(plans, "acme"))
    assert (nov.start, nov.end, nov.days) == (date(2026, 11, 15), date(2026, 12, 15), 30)
    inv = bill("acme", nov, spans(plans, "acme", nov), lambda a, b: {})
    assert [(ln.description, ln.amount) for ln in inv.lines] == [("subscription fee", D("90.00")),  # a full month
                                                                 ("metered usage", D("0.00"))]
    with pytest.raises(BillingError, match=r"anchor day 29 must be 1\.\.28"):
        month("2026-11", 29)


def test_the_current_period_follows_the_anchor_day() -> None:
    plans = PlansFile.model_validate({
        "plans": [{"id": "team", "name": "Team", "billing_period": "anniversary",
                   "pricing": {"type": "pay_as_you_go"}}, {"id": "cal", "name": "Cal", "pricing": {
                       "type": "pay_as_you_go"}}],
        "assignments": [{"tenant": "acme", "plan": "team", "effective_from": "2026-03-15"},
                        {"tenant": "bob", "plan": "cal", "effective_from": "2026-03-15"}],
    })
    assert current_period(plans, "acme", date(2026, 11, 10)).start == date(2026, 10, 15)
    assert current_period(plans, "acme", date(2026, 1, 3)).start == date(2025, 12, 15)
    assert current_period(plans, "acme", date(2026, 11, 15)).start == date(2026, 11, 15)
    assert current_period(plans, "bob", date(2026, 11, 10)).start == date(2026, 11, 1)
