"""``tokenmeter invoice`` end to end: rated windows in ClickHouse -> plan -> printed and stored invoice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.clickhouse

PLANS = """
version: 1
plans:
  - {id: payg, name: Pay as you go, pricing: {type: pay_as_you_go, discount_percent: "10"}}
  - id: pro
    name: Pro
    pricing: {type: subscription, monthly_fee: "300", included_tokens: 30000000, overage_per_million: "2"}
assignments:
  - {tenant: acme, plan: payg, effective_from: 2026-01-01, effective_to: 2026-11-21}
  - {tenant: acme, plan: pro, effective_from: 2026-11-21}
"""


def window(day: int, model: str, tokens: int, cost: str) -> str:
    start = f"2026-11-{day:02d} 10:00:00"
    return (f"('acme', '{start}', '{start}', 'openai', '{model}', 'standard', 1, 1, {tokens}, {cost}, {cost}, "
            "'USD', 1)")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    plans = tmp_path / "plans.yaml"
    plans.write_text(PLANS)
    return {**os.environ, "CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}", "CLICKHOUSE_DATABASE": "inv",
            "TOKENMETER_PLANS": str(plans)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokenmeter", "--log-level", "warning", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_invoice_for_a_month_with_a_plan_change(env: dict[str, str]) -> None:
    assert cli(env, "migrate").returncode == 0
    rows = ", ".join([window(3, "gpt-4o", 5_000_000, "20.5"), window(15, "gpt-4o-mini", 3_000_000, "0.9"),
                      window(25, "gpt-4o", 34_000_000, "100")])
    insert = ("INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, "
              f"requests, events, input_tokens, input_cost, cost_total, currency, version) VALUES {rows}")
    assert cli(env, "sql", insert).returncode == 0

    out = cli(env, "invoice", "--tenant", "acme", "--period", "2026-11", "--format", "json", "--store")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [(ln["description"], ln["amount"]) for ln in doc["lines"]] == [
        ("Pay as you go 2026-11-01..2026-11-21: openai/gpt-4o metered usage", "20.50"),
        ("Pay as you go 2026-11-01..2026-11-21: openai/gpt-4o-mini metered usage", "0.90"),
        ("Pay as you go 2026-11-01..2026-11-21: discount 10 %", "-2.14"),          # 10 % of 21.40
        ("Pro 2026-11-21..2026-12-01: subscription fee", "100.00"),                # 300 x 10/30
        ("Pro 2026-11-21..2026-12-01: overage beyond 10,000,000 included tokens", "48.00"),  # 24M x $2
    ]
    assert doc["total"] == "167.26"

    stored = cli(env, "sql", "SELECT count(), sum(amount) FROM invoice_lines WHERE tenant = 'acme'")
    row = json.loads(stored.stdout.splitlines()[0])
    assert (row["count()"], Decimal(row["sum(amount)"])) == (5, Decimal("167.26"))

    table = cli(env, "invoice", "--tenant", "acme", "--period", "2026-11")
    assert table.stdout.splitlines()[0] == "Invoice acme 2026-11 (USD)"
    assert table.stdout.splitlines()[-1].split() == ["TOTAL", "167.26"]
    csv = cli(env, "invoice", "--tenant", "acme", "--period", "2026-11", "--format", "csv")
    assert csv.stdout.splitlines()[-1] == "acme,2026-11,TOTAL,,,,167.26,USD"


def test_bad_period_and_unknown_tenant_are_clear_errors(env: dict[str, str]) -> None:
    assert cli(env, "migrate").returncode == 0
    bad = cli(env, "invoice", "--tenant", "acme", "--period", "2026-13")
    assert bad.returncode == 1 and "period '2026-13' must look like 2026-11" in bad.stderr
    nobody = cli(env, "invoice", "--tenant", "nobody", "--period", "2026-11")
    assert nobody.returncode == 1 and "tenant 'nobody' has no plan in force during 2026-11" in nobody.stderr


def test_price_trend_table_and_charts(env: dict[str, str], tmp_path: Path) -> None:
    out = cli(env, "prices", "trend", "--model", "o3", "--chart", str(tmp_path / "o3.svg"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:4] == [
        "openai/o3 list price, USD per 1M tokens",
        "from        to                 input  cached_input        output",
        "2025-04-16  2025-06-10            10           0.5            40",
        "2025-06-10  (current)              2           0.5             8",
    ]
    assert (tmp_path / "o3.svg").read_text().lstrip().startswith("<?xml")
    png = cli(env, "prices", "trend", "--model", "gpt-4o", "--chart", str(tmp_path / "g.png"))
    assert png.returncode == 0 and (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = cli(env, "prices", "trend", "--model", "nope")
    assert missing.returncode == 1 and "'nope' is listed by 0 providers" in missing.stderr


def test_cost_trend_and_plan_comparison_on_real_rows(env: dict[str, str], tmp_path: Path) -> None:
    assert cli(env, "migrate").returncode == 0
    rows = ", ".join([window(3, "gpt-4o", 5_000_000, "20.5"), window(25, "gpt-4o", 34_000_000, "100")])
    insert = ("INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, "
              f"requests, events, input_tokens, input_cost, cost_total, currency, version) VALUES {rows}")
    assert cli(env, "sql", insert).returncode == 0
    trend = cli(env, "usage", "cost-trend", "--tenant", "acme", "--chart", str(tmp_path / "c.png"))
    assert trend.stdout.splitlines()[1].split() == ["2026-11", "39,000,000", "120.500000000000", "3.089744"]
    compare = cli(env, "plans", "compare", "--tenant", "acme", "--months", "2", "--through", "2026-11")
    assert compare.returncode == 0, compare.stderr
    lines = compare.stdout.splitlines()
    assert lines[0] == "acme: 2026-10..2026-11 under each plan, cheapest first"
    # 39M tokens, $120.50 at list: PAYG -10 % = 108.45; Pro = 300 + 9M x $2 = 318 (and 300 for empty October)
    assert lines[1].split()[:3] == ["payg", "108.45", "USD"]
    assert lines[2].split()[:3] == ["pro", "618.00", "USD"]
    # break-even: 108.45 f = 600 + (39 f - 30) x 2  ->  f = 540 / 30.45
    assert lines[2].endswith("break-even: 17.7340x usage")


def test_prices_import_from_both_catalogs_writes_a_valid_book(env: dict[str, str], tmp_path: Path) -> None:
    excerpt = Path(__file__).parent / "pricing" / "litellm-prices-excerpt.json"
    out = cli(env, "prices", "import", "--from", "litellm", "--file", str(excerpt), "--effective-from",
              "2026-12-01", "--out", str(tmp_path / "ll.yaml"), "--report")
    assert out.returncode == 0, out.stderr
    book = tmp_path / "ll.yaml"
    assert out.stdout.splitlines()[-1] == f"prices import: source=litellm models=6 skipped=13 out={book}"
    assert sum(line.startswith("skipped: ") for line in out.stdout.splitlines()) == 13
    assert cli(env, "prices", "check", str(tmp_path / "ll.yaml")).stdout == "prices check: ok models=6 periods=6\n"
    gp = cli(env, "prices", "import", "--provider", "openai", "--out", str(tmp_path / "gp.yaml"))
    assert gp.returncode == 0 and "source=genai-prices models=" in gp.stdout
    assert cli(env, "prices", "check", str(tmp_path / "gp.yaml")).returncode == 0
    nofile = cli(env, "prices", "import", "--from", "litellm", "--out", str(tmp_path / "x.yaml"))
    assert nofile.returncode == 2 and "--from litellm needs --file" in nofile.stderr


def test_prepaid_credit_carries_over_stored_invoices(env: dict[str, str], tmp_path: Path) -> None:
    plans = tmp_path / "credit.yaml"
    plans.write_text("""
plans: [{id: payg, name: PAYG, pricing: {type: pay_as_you_go}}]
assignments: [{tenant: acme, plan: payg, effective_from: 2026-01-01}]
credits: [{id: welcome, tenant: acme, amount: "100", granted_on: 2026-10-01}]
""")
    env = {**env, "TOKENMETER_PLANS": str(plans)}
    assert cli(env, "migrate").returncode == 0
    rows = ", ".join([window(3, "gpt-4o", 1_000, "70"), window(3, "gpt-4o-mini", 1_000, "0")]).replace(
        "2026-11-03", "2026-10-03")
    rows += ", " + window(5, "gpt-4o", 1_000, "50")
    insert = ("INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, "
              f"requests, events, input_tokens, input_cost, cost_total, currency, version) VALUES {rows}")
    assert cli(env, "sql", insert).returncode == 0
    october = json.loads(cli(env, "invoice", "--tenant", "acme", "--period", "2026-10", "--format", "json",
                              "--store").stdout)
    assert october["total"] == "0.00"  # $70 of usage, all from the $100 credit
    november = json.loads(cli(env, "invoice", "--tenant", "acme", "--period", "2026-11", "--format", "json").stdout)
    assert [(ln["description"], ln["amount"]) for ln in november["lines"]] == [
        ("openai/gpt-4o metered usage", "50.00"), ("prepaid credit welcome", "-30.00")]  # $30 left of $100
    assert november["total"] == "20.00"
