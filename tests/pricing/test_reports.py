"""The seed's reports: real price history drives the trend; plan comparison with break-even."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tokenmeter.pricing.catalog import builtin_price_book
from tokenmeter.pricing.plans import ModelUsage, Plan
from tokenmeter.pricing.reports import compare_plans, cost_trend, price_trend

D = Decimal
BOOK = builtin_price_book()


def test_gpt4_family_and_o3_cut_drive_the_trend() -> None:
    o3 = price_trend(BOOK, "openai", "o3")
    assert [(p.effective_from, p.per_million["input_tokens"], p.per_million["output_tokens"]) for p in o3] == [
        (date(2025, 4, 16), D(10), D(40)), (date(2025, 6, 10), D(2), D(8))]
    steps = [price_trend(BOOK, "openai", m)[0] for m in ("gpt-4", "gpt-4-turbo", "gpt-4o", "gpt-4o-mini")]
    assert [(p.effective_from, p.per_million["input_tokens"]) for p in steps] == [
        (date(2023, 3, 14), D(30)), (date(2023, 11, 6), D(10)), (date(2024, 5, 13), D(5)),
        (date(2024, 7, 18), D("0.15"))]
    gpt4o = price_trend(BOOK, "openai", "gpt-4o-2024-08-06")  # by alias
    assert [(p.effective_from, p.effective_to, p.per_million.get("cached_input_tokens")) for p in gpt4o] == [
        (date(2024, 5, 13), date(2024, 10, 2), None), (date(2024, 10, 2), None, D("1.25"))]
    assert price_trend(BOOK, "openai", "no-such-model") == []


def test_cost_trend_is_money_per_million_tokens_by_month() -> None:
    points = cost_trend([("2026-10", 4_000_000, D("10")), ("2026-09", 0, D(0)), ("2026-11", 3_000_000, D("4.5"))])
    assert [(p.month, p.per_million) for p in points] == [("2026-09", None), ("2026-10", D("2.5")),
                                                          ("2026-11", D("1.5"))]


def test_plans_compared_cheapest_first_with_break_even() -> None:
    payg = Plan.model_validate({"id": "payg", "name": "PAYG", "pricing": {"type": "pay_as_you_go"}})
    pro = Plan.model_validate({"id": "pro", "name": "Pro", "pricing": {
        "type": "subscription", "monthly_fee": "100", "included_tokens": 50_000_000, "overage_per_million": "1"}})
    months = [{"m": ModelUsage(20_000_000, D("40"))}] * 3  # $40/month at list
    [first, second] = compare_plans([pro, payg], months)
    assert (first.plan.id, first.total, first.monthly) == ("payg", D("120.00"), (D("40.00"),) * 3)
    assert (second.plan.id, second.total) == ("pro", D("300.00"))
    assert second.break_even == D("2.5000")  # at 2.5x the usage PAYG costs $100/month too
    assert first.break_even is None
