"""The Grafana dashboards, written as data here and rendered to deploy/grafana/dashboards/*.json.

Why plain data rather than grafana-foundation-sdk: three dashboards of time
series and stats need a dozen fields per panel; a dict is as readable as the
builder calls, adds no dependency that moves with Grafana's release train, and
lets the tests reach every panel's PromQL directly (the Prometheus integration
test evaluates each one against a real server). ``make schema`` writes the
JSON; a test fails when it drifts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _q(expr: str, legend: str = "") -> tuple[str, str]:
    return expr, legend


PIPELINE = Dashboard("tokenmeter-pipeline", "tokenmeter / pipeline",
                     "Ingest, meter, sink: is every event counted, once, on time?", (
    Panel("Events read, counted, duplicate, redelivered per second", (
        _q("sum(rate(tokenmeter_events_received_total[1m]))", "read"),
        _q("sum(rate(tokenmeter_events_valid_total[1m]))", "valid"),
        _q("sum(rate(tokenmeter_events_counted_total[1m]))", "counted"),
        _q("sum(rate(tokenmeter_events_duplicate_total[1m]))", "duplicate"),
        _q("sum(rate(tokenmeter_events_redelivered_total[1m]))", "redelivered")), "ops"),
    Panel("Consumer lag by group", (_q("sum by (group) (tokenmeter_consumer_lag_messages)", "{{group}}"),), "short"),
    Panel("Freshness: event time to stored (p50, p99)", (
        _q("histogram_quantile(0.5, sum by (le) (rate(tokenmeter_freshness_seconds_bucket[5m])))", "p50"),
        _q("histogram_quantile(0.99, sum by (le) (rate(tokenmeter_freshness_seconds_bucket[5m])))", "p99")), "s"),
    Panel("Dead letters by reason per second", (
        _q("sum by (reason) (rate(tokenmeter_events_invalid_total[5m]))", "{{reason}}"),), "ops"),
    Panel("Late events (counted in an ended window) per second", (
        _q("sum(rate(tokenmeter_events_late_total[5m]))", "late"),
        _q("sum(rate(tokenmeter_events_invalid_total{reason=\"too_late\"}[5m]))", "too late (DLQ)")), "ops"),
    Panel("Sink: rows stored per second by table", (
        _q("sum by (table) (rate(tokenmeter_sink_rows_total[1m]))", "{{table}}"),), "ops"),
    Panel("Sink: insert duration p99 by table, failures", (
        _q("histogram_quantile(0.99, sum by (le, table) (rate(tokenmeter_sink_flush_seconds_bucket[5m])))",
           "p99 {{table}}"),
        _q("sum(rate(tokenmeter_sink_failures_total[5m]))", "failures/s")), "s"),
    Panel("Window snapshots emitted per second", (
        _q("sum(rate(tokenmeter_window_snapshots_emitted_total[1m]))", "snapshots"),), "ops"),
    Panel("Meter state: keys held and expired", (
        _q("sum by (table) (tokenmeter_state_keys)", "held {{table}}"),
        _q("sum by (table) (rate(tokenmeter_state_expired_total[5m]))", "expired/s {{table}}")), "short"),
    Panel("Reconciliation drift (last run)", (
        _q("max(tokenmeter_reconcile_drift_windows)", "windows"),
        _q("max(tokenmeter_reconcile_drift_tokens)", "tokens")), "short", "stat"),
    Panel("Input holes repaired (1 h)", (
        _q("sum(increase(tokenmeter_input_gaps_total[1h]))", "holes"),
        _q("sum(increase(tokenmeter_input_gap_records_total[1h]))", "records read"),
        _q("sum(increase(tokenmeter_input_gap_lost_total[1h]))", "records lost"),
        _q("sum(increase(tokenmeter_stale_records_total[1h]))", "left to a new owner")), "short", "stat"),
    Panel("Producer SDK: events acknowledged and failed per second", (
        _q("sum(rate(tokenmeter_producer_events_sent_total[1m]))", "acknowledged"),
        _q("sum(rate(tokenmeter_producer_events_failed_total[1m]))", "failed")), "ops"),
))

USAGE = Dashboard("tokenmeter-usage", "tokenmeter / usage",
                  "What is being used: tokens by class, tenant and model (exact money is in ClickHouse).", (
    Panel("Tokens per second by class", (
        _q("sum by (token_class) (rate(tokenmeter_tokens_total[5m]))", "{{token_class}}"),), "short"),
    Panel("Top 10 tenants, tokens per second", (
        _q("topk(10, sum by (tenant) (rate(tokenmeter_tenant_tokens_total[5m])))", "{{tenant}}"),), "short",
        description="Tenants beyond TOKENMETER_METRICS_TENANT_LIMIT are summed as 'other'."),
    Panel("Top 10 models, tokens per second", (
        _q("topk(10, sum by (provider, model) (rate(tokenmeter_model_tokens_total[5m])))", "{{provider}}/{{model}}"),),
        "short"),
    Panel("Top 10 tenants, list-price money per hour", (
        _q("topk(10, sum by (tenant, currency) (rate(tokenmeter_tenant_cost_total[5m]) * 3600))",
           "{{tenant}} {{currency}}"),), "short",
        description="A trend from window snapshots; invoices use the exact money in ClickHouse."),
    Panel("Top 10 models, list-price money per hour", (
        _q("topk(10, sum by (provider, model, currency) (rate(tokenmeter_model_cost_total[5m]) * 3600))",
           "{{provider}}/{{model}} {{currency}}"),), "short"),
    Panel("Events for models without a list price per second", (
        _q("sum(rate(tokenmeter_events_unpriced_total[5m]))", "unpriced"),), "ops"),
    Panel("Budget alerts raised (1 h) by level", (
        _q("sum by (level) (increase(tokenmeter_budget_alerts_total[1h]))", "{{level}}"),), "short", "stat"),
))

SLO = Dashboard("tokenmeter-slo", "tokenmeter / SLOs",
                "Freshness SLO: 99 % of events stored within 60 s; dead-letter ratio.", (
    Panel("Events stored within 60 s (ratio, 5 m)", (
        _q("sum(rate(tokenmeter_freshness_seconds_bucket{le=\"60.0\"}[5m])) "
           "/ sum(rate(tokenmeter_freshness_seconds_count[5m]))", "within 60 s"),), "percentunit"),
    Panel("Freshness SLO error ratio, 5 m and 1 h (alert at 14.4 x 1 %)", (
        _q("tokenmeter:freshness_slo_errors:ratio_rate5m", "5m"),
        _q("tokenmeter:freshness_slo_errors:ratio_rate1h", "1h")), "percentunit"),
    Panel("Dead-letter ratio (10 m)", (
        _q("sum(rate(tokenmeter_events_invalid_total[10m])) / sum(rate(tokenmeter_events_received_total[10m]))",
           "dead-lettered"),), "percentunit"),
))

DASHBOARDS = (PIPELINE, USAGE, SLO)


def grafana_json(d: Dashboard) -> dict[str, Any]:
    panels = []
    for i, p in enumerate(d.panels):
        panels.append({
            "id": i + 1, "type": p.kind, "title": p.title, "description": p.description, "datasource": DATASOURCE,
            "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
            "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + j), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                        for j, (expr, legend) in enumerate(p.exprs)]})
    return {"uid": d.uid, "title": d.title, "description": d.description, "tags": ["tokenmeter"],
            "schemaVersion": 39, "version": 1, "editable": True, "time": {"from": "now-1h", "to": "now"},
            "refresh": "30s", "panels": panels}


def render(d: Dashboard) -> bytes:
    return orjson.dumps(grafana_json(d), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def all_exprs() -> list[str]:
    return [expr for d in DASHBOARDS for p in d.panels for expr, _ in p.exprs]
