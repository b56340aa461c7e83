from __future__ import annotations

from tokenmeter.storage.queries import tenant_totals


def test_tenant_is_bound_never_formatted() -> None:
    sql, params = tenant_totals("x' OR 1=1 --")
    assert "WHERE tenant = {tenant:String}" in sql
    assert "OR 1=1" not in sql
    assert params == {"tenant": "x' OR 1=1 --"}


def test_all_tenants_reads_latest_snapshots() -> None:
    sql, params = tenant_totals()
    assert params == {}
    assert "FROM usage_windows FINAL" in sql and "WHERE" not in sql
