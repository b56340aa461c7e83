"""Budget thresholds: which of a plan's spend limits a month-to-date bill has reached. Pure.

A limit is reached when the estimated bill (the invoice of the month so far,
rounded lines summed) is at or above it. Each (tenant, period, level) alerts
once: the caller remembers what it sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tokenmeter.pricing.plans import Plan


@dataclass(frozen=True, slots=True)
class Alert:
    tenant: str
    period: str
    level: str  # "soft" or "hard"
    limit: Decimal
    spend: Decimal
    currency: str

    @property
    def key(self) -> bytes:
        """Idempotency key: consumers drop an alert they have seen (delivery is at least once)."""
        return f"{self.tenant}|{self.period}|{self.level}".encode()

    def doc(self, now_ms: int) -> dict[str, Any]:
        return {"type": "budget.threshold_reached", "tenant": self.tenant, "period": self.period,
                "level": self.level, "limit": str(self.limit), "spend": str(self.spend), "currency": self.currency,
                "at_ms": now_ms}


def reached(tenant: str, period: str, plan: Plan, spend: Decimal) -> list[Alert]:
    """The plan's limits that ``spend`` has reached, soft before hard."""
    limits = [("soft", plan.budget_soft), ("hard", plan.budget_hard)]
    return [Alert(tenant, period, level, limit, spend, plan.currency)
            for level, limit in limits if limit is not None and spend >= limit]
