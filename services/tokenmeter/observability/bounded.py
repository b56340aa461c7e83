"""Label values with a bound: tenants and models as Prometheus labels without unbounded series.

A :class:`BoundedLabel` gives a value its own series when it is on the
allow-list, or (without a list) when it is among the first ``limit`` distinct
values this process has seen; every other value is reported as ``other``.
"First seen" rather than "largest": a counter series cannot move between a
tenant's own label and ``other`` without breaking its monotonicity. Choose the
tenants that matter with the allow-list (``TOKENMETER_METRICS_TENANTS``);
exact per-tenant figures always live in ClickHouse, not in Prometheus.
"""

from __future__ import annotations

OTHER = "other"


class BoundedLabel:
    def __init__(self, limit: int, allow: frozenset[str] | None = None) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self.allow = allow
        self._kept: set[str] = set()

    def __call__(self, value: str) -> str:
        if self.allow is not None:
            return value if value in self.allow else OTHER
        if value in self._kept:
            return value
        if len(self._kept) < self.limit and value != OTHER:
            self._kept.add(value)
            return value
        return OTHER

    @property
    def distinct(self) -> int:
        """Label values in use, ``other`` included once it may appear."""
        return (len(self.allow) if self.allow is not None else len(self._kept)) + 1
