"""Worked examples of every plan type: exact lines, each rounded once, totals to the cent."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from pydantic import ValidationError

from tokenmeter.pricing.invoice import invoice
from tokenmeter.pricing.plans import ModelUsage, Plan, plan_lines

D = Decimal
ONE = Fraction(1)
USAGE = {  # a month of one tenant: 30M gpt-4o tokens costing $91.234567 at list, 12.5M mini costing $3.100001
    "openai/gpt-4o": ModelUsage(30_000_000, D("91.234567")),
    "openai/gpt-4o-mini": ModelUsage(12_500_000, D("3.100001")),
}


def plan(pricing: dict[str, object], **extra: object) -> Plan:
    return Plan.model_validate({"id": "p1", "name": "P", "pricing": pricing, **extra})


def rows(p: Plan, usage: dict[str, ModelUsage] = USAGE, fraction: Fraction = ONE) -> list[tuple[str, D]]:
    return [(ln.description, ln.amount) for ln in plan_lines(p, usage, fraction=fraction)]


def test_pay_as_you_go_at_list_with_a_discount_line() -> None:
    p = plan({"type": "pay_as_you_go", "discount_percent": "12.5"})
    assert rows(p) == [("openai/gpt-4o metered usage", D("91.23")),
                       ("openai/gpt-4o-mini metered usage", D("3.10")),
                       ("discount 12.5 %", D("-11.79"))]  # 12.5 % of 94.334568 = 11.791821
    assert invoice("acme", "2026-11", "USD", plan_lines(p, USAGE)).total == D("82.54")


def test_subscription_with_included_tokens_bills_only_the_overage() -> None:
    p = plan({"type": "subscription", "monthly_fee": "49", "included_tokens": 40_000_000,
              "overage_per_million": "1.5"})
    assert rows(p) == [("subscription fee", D("49.00")),
                       ("overage beyond 40,000,000 included tokens", D("3.75"))]  # 2.5M x 1.5


def test_subscription_with_included_credit_bills_list_beyond_it() -> None:
    p = plan({"type": "subscription", "monthly_fee": "20", "included_credit": "50"})
    assert rows(p) == [("subscription fee", D("20.00")),
                       ("usage beyond 50 USD included credit", D("44.33"))]  # 94.334568 - 50


def test_graduated_and_volume_tiers_over_the_period() -> None:
    tiers = [{"up_to_tokens": 10_000_000, "price_per_million": "3"},
             {"up_to_tokens": 40_000_000, "price_per_million": "2"},
             {"up_to_tokens": None, "price_per_million": "1"}]
    assert rows(plan({"type": "tiered", "mode": "graduated", "tiers": tiers})) == [
        ("tier 1 (graduated)", D("30.00")), ("tier 2 (graduated)", D("60.00")), ("tier 3 (graduated)", D("2.50"))]
    assert rows(plan({"type": "tiered", "mode": "volume", "tiers": tiers})) == [("tier 3 (volume)", D("42.50"))]


def test_package_rounds_up_to_whole_blocks() -> None:
    p = plan({"type": "package", "block_tokens": 10_000_000, "block_price": "25"})
    assert rows(p) == [("10,000,000 token blocks", D("125.00"))]  # 42.5M tokens -> 5 blocks


def test_minimum_commitment_adds_a_true_up_line_only_when_short() -> None:
    p = plan({"type": "pay_as_you_go"}, minimum_commitment="150")
    assert rows(p)[-1] == ("minimum commitment true-up", D("55.67"))  # 150 - (91.23 + 3.10)
    assert invoice("acme", "2026-11", "USD", plan_lines(p, USAGE)).total == D("150.00")
    assert rows(p, {"m": ModelUsage(1, D("200"))}) == [("m metered usage", D("200.00"))]


def test_proration_scales_fees_allowances_and_minimum_but_not_usage() -> None:
    pricing = {"type": "subscription", "monthly_fee": "49", "included_tokens": 40_000_000,
               "overage_per_million": "1.5"}
    ten_of_thirty = Fraction(10, 30)
    # fee 49/3 = 16.333..; included 13,333,333 (rounded down); overage 29,166,667 tokens x 1.5 = 43.7500005
    assert rows(plan(pricing, minimum_commitment="90"), fraction=ten_of_thirty) == [
        ("subscription fee", D("16.33")), ("overage beyond 13,333,333 included tokens", D("43.75"))]
    # minimum 300 x 1/3 = 100 > 60.08 billed
    assert rows(plan(pricing, minimum_commitment="300"), fraction=ten_of_thirty)[-1] == (
        "minimum commitment true-up", D("39.92"))


@pytest.mark.parametrize(("pricing", "message"), [
    ({"type": "subscription", "monthly_fee": "1", "included_tokens": 5}, "needs overage_per_million"),
    ({"type": "subscription", "monthly_fee": "1", "included_tokens": 5, "overage_per_million": "1",
      "included_credit": "3"}, "not both"),
    ({"type": "pay_as_you_go", "discount_percent": "101"}, "less than or equal to 100"),
    ({"type": "package", "block_tokens": 0, "block_price": "1"}, "greater than or equal to 1"),
    ({"type": "barter"}, "does not match any of the expected tags"),
])
def test_invalid_plans_name_the_problem(pricing: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        plan(pricing)
