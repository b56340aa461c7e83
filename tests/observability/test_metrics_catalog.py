"""The metrics catalog is complete, follows the naming rules, is rendered, and bounds tenant and model labels."""

from datetime import UTC, datetime

from prometheus_client import REGISTRY

import tokenmeter.stream.app  # noqa: F401  (imports every module that declares metrics)
from tokenmeter.contracts import OPERATIONS_README, operations_readme
from tokenmeter.events.models import UsageEvent
from tokenmeter.observability import metrics
from tokenmeter.observability.bounded import OTHER, BoundedLabel
from tokenmeter.observability.business import count_business


def exposed_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("tokenmeter_"):
            names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def test_every_exposed_metric_has_a_catalog_entry_and_no_entry_is_missing() -> None:
    assert exposed_names() == {spec.name for spec in metrics.CATALOG}


def test_names_follow_prometheus_conventions() -> None:
    for spec in metrics.CATALOG:
        assert spec.name.startswith("tokenmeter_"), spec
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec
        assert (spec.unit == "seconds") == spec.name.endswith("_seconds"), spec
        assert spec.help.endswith(".") and spec.unit, spec


def test_the_operations_readme_holds_the_current_catalog() -> None:
    assert OPERATIONS_README.read_text() == operations_readme(), "metrics catalog drifted: run `make schema`"


def test_bounded_label_keeps_the_first_n_or_the_allow_list() -> None:
    first = BoundedLabel(2)
    assert [first(v) for v in ("a", "b", "c", "a", "other", "d")] == ["a", "b", OTHER, "a", OTHER, OTHER]
    assert first.distinct == 3
    listed = BoundedLabel(2, frozenset({"vip"}))
    assert [listed(v) for v in ("a", "vip", "b")] == [OTHER, "vip", OTHER]


def event(i: int, tenant: str) -> UsageEvent:
    return UsageEvent.model_validate({
        "specversion": "1.0", "type": "llm.usage", "id": f"e{i}", "source": "t", "subject": tenant,
        "time": datetime(2026, 12, 1, tzinfo=UTC),
        "data": {"provider": "openai", "model": f"m-{i % 300}", "input_tokens": 3, "output_tokens": 1}})


def series(family_name: str, label: str, prefix: str) -> dict[str, float]:
    """Sample values of one counter family by one label, for label values starting with ``prefix`` or other."""
    out: dict[str, float] = {}
    for family in REGISTRY.collect():
        if family.name == family_name:
            for s in family.samples:
                value = s.labels.get(label, "")
                if s.name.endswith("_total") and (value.startswith(prefix) or value == OTHER):
                    out[f"{value}|{s.labels.get('token_class')}"] = s.value
    return out


def test_ten_thousand_tenants_make_a_bounded_number_of_series_and_lose_no_tokens() -> None:
    before = series("tokenmeter_tenant_tokens", "tenant", "card-")
    model_before = series("tokenmeter_model_tokens", "model", "m-")
    tenants, models = BoundedLabel(50), BoundedLabel(100)
    events = [event(i, f"card-{i:05d}") for i in range(10_000)]
    for start in range(0, len(events), 500):  # as the meter does: one call per record's counted events
        count_business(events[start:start + 500], tenants, models)
    after = series("tokenmeter_tenant_tokens", "tenant", "card-")
    own = {k for k in after if k.startswith("card-")}
    assert len({k.split("|")[0] for k in own}) == 50  # 50 tenants with their own series, the rest in "other"
    assert len(own) == 50 * 2  # two token classes each
    gained = {k: v - before.get(k, 0.0) for k, v in after.items()}
    assert sum(v for k, v in gained.items() if k.endswith("|input_tokens")) == 30_000
    assert sum(v for k, v in gained.items() if k.endswith("|output_tokens")) == 10_000
    model_after = series("tokenmeter_model_tokens", "model", "m-")
    assert len({k.split("|")[0] for k in model_after if k.startswith("m-")}) == 100
    model_gained = sum(v - model_before.get(k, 0.0) for k, v in model_after.items())
    assert model_gained == 40_000


def test_the_checked_in_dashboards_are_the_rendered_ones() -> None:
    from tokenmeter.observability.dashboards import DASHBOARDS, render
    from tokenmeter.settings import REPO_ROOT

    folder = REPO_ROOT / "deploy" / "grafana" / "dashboards"
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(f"{d.uid}.json" for d in DASHBOARDS)
    for d in DASHBOARDS:
        assert (folder / f"{d.uid}.json").read_bytes() == render(d), f"{d.uid} drifted: run `make schema`"


def cost_value(tenant: str, currency: str = "USD") -> float:
    return REGISTRY.get_sample_value("tokenmeter_tenant_cost_total", {"tenant": tenant, "currency": currency}) or 0.0


def test_cost_counts_each_snapshot_increase_once_and_seeds_after_a_recovery() -> None:
    from decimal import Decimal

    from tokenmeter.observability.business import CostMeter

    meter = CostMeter(BoundedLabel(10), BoundedLabel(10))
    start = cost_value("cost-a")
    meter.snapshot(b"g1", "w1", "cost-a", "openai", "gpt-4o", Decimal("0.50"), "USD")  # a new window: all of it
    meter.snapshot(b"g1", "w1", "cost-a", "openai", "gpt-4o", Decimal("0.75"), "USD")  # grew by 0.25
    meter.snapshot(b"g1", "w1", "cost-a", "openai", "gpt-4o", Decimal("0.75"), "USD")  # unchanged: nothing
    meter.snapshot(b"g2", "w2", "cost-a", "x", "unknown", Decimal("9"), "XXX")          # unpriced: nothing
    assert cost_value("cost-a") - start == 0.75
    recovered = CostMeter(BoundedLabel(10), BoundedLabel(10))                     # another process, after a rebalance
    recovered.snapshot(b"g1", "w1", "cost-a", "openai", "gpt-4o", Decimal("0.75"), "USD", seed=True)
    recovered.snapshot(b"g1", "w1", "cost-a", "openai", "gpt-4o", Decimal("1.00"), "USD")
    assert cost_value("cost-a") - start == 1.00
    recovered.forget([b"g1"])
    recovered.snapshot(b"g1", "w1", "cost-a", "openai", "gpt-4o", Decimal("1.00"), "USD", seed=True)
    assert cost_value("cost-a") - start == 1.00


def test_a_window_moved_into_its_group_counts_only_its_growth() -> None:
    from decimal import Decimal

    from tokenmeter.observability.business import CostMeter

    meter = CostMeter(BoundedLabel(10), BoundedLabel(10))
    start = cost_value("cost-moved")
    meter.snapshot(b"old-key", "w", "cost-moved", "openai", "gpt-4o", Decimal("2.00"), "USD")
    meter.move(b"old-key", b"group")  # the older-layout key was absorbed by its tenant window's key
    meter.snapshot(b"group", "w", "cost-moved", "openai", "gpt-4o", Decimal("2.50"), "USD")
    assert cost_value("cost-moved") - start == 2.50
    meter.forget([b"old-key"])  # nothing left under the old key
    meter.snapshot(b"group", "w", "cost-moved", "openai", "gpt-4o", Decimal("2.50"), "USD")
    assert cost_value("cost-moved") - start == 2.50
