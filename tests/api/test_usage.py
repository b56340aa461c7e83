"""GET /v1/usage on the real ClickHouse engine: buckets in a time zone, groups, CSV, precise 400s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import Keys, app_with
from tokenmeter.api.auth import Access
from tokenmeter.api.usage import usage_router
from tokenmeter.storage.clickhouse import ClickHouse

pytestmark = pytest.mark.clickhouse
RANGE = {"tenant": "acme", "from": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00+00:00"}


@pytest.fixture
async def client(clickhouse: ClickHouse, access: Access, api_keys: Keys) -> AsyncIterator[httpx.AsyncClient]:
    clickhouse.command(
        "INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, requests, "
        "events, input_tokens, output_tokens, input_cost, output_cost, cost_total, currency, version) VALUES "
        "('acme', '2026-10-31 23:30:00', '2026-10-31 23:31:00', 'openai', 'gpt-4o', 'standard', 1, 1, 100, 10, "
        "0.00025, 0.0001, 0.00035, 'USD', 1), "
        "('acme', '2026-11-01 10:00:00', '2026-11-01 10:01:00', 'openai', 'gpt-4o-mini', 'standard', 1, 1, 200, 20, "
        "0.00003, 0.000012, 0.000042, 'USD', 2), "
        "('globex', '2026-11-01 10:00:00', '2026-11-01 10:01:00', 'openai', 'gpt-4o', 'standard', 1, 1, 999, 0, "
        "1, 0, 1, 'USD', 3)")
    app = app_with(usage_router(clickhouse, access))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers=api_keys.tenant_acme) as c:
        yield c


async def test_days_follow_the_requested_time_zone(client: httpx.AsyncClient) -> None:
    utc = (await client.get("/v1/usage", params={**RANGE, "window": "day", "group_by": "model"})).json()
    assert [(r["start"], r["model"], r["tokens"], r["cost"]) for r in utc["rows"]] == [
        ("2026-10-31T00:00:00+00:00", "gpt-4o", 110, "0.000350000000"),
        ("2026-11-01T00:00:00+00:00", "gpt-4o-mini", 220, "0.000042000000")]
    berlin = (await client.get("/v1/usage", params={**RANGE, "window": "day", "tz": "Europe/Berlin"})).json()
    # 23:30 UTC on Oct 31 is 00:30 on Nov 1 in Berlin: both windows fall on one Berlin day.
    assert [(r["start"], r["tokens"], r["cost"]) for r in berlin["rows"]] == [
        ("2026-11-01T00:00:00+01:00", 330, "0.000392000000")]


async def test_token_class_groups_and_csv(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/v1/usage", params={**RANGE, "window": "month", "group_by": "token_class"})).json()
    assert [(r["start"][:7], r["token_class"], r["tokens"], r["cost"]) for r in doc["rows"]] == [
        ("2026-10", "input_tokens", 100, "0.000250000000"), ("2026-10", "output_tokens", 10, "0.000100000000"),
        ("2026-11", "input_tokens", 200, "0.000030000000"), ("2026-11", "output_tokens", 20, "0.000012000000")]
    csv = await client.get("/v1/usage", params={**RANGE, "window": "month", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == ["start,tokens,cost,currency",
                                     "2026-10-01T00:00:00+00:00,110,0.000350000000,USD",
                                     "2026-11-01T00:00:00+00:00,220,0.000042000000,USD"]


@pytest.mark.parametrize(("params", "field", "reason"), [
    ({"tz": "Mars/Olympus"}, "tz", "is not an IANA time zone"),
    ({"to": "2026-09-01T00:00:00Z"}, "to", "must be after from"),
    ({"from": "2026-10-01T00:00:00"}, "from", "must carry a UTC offset"),
    ({"from": "1900-01-01T00:00:00Z"}, "from", "must be between 1970-01-01T00:00:00+00:00 and"),
    ({"tz": "America"}, "tz", "is not an IANA time zone"),
    ({"tz": "../../etc/passwd"}, "tz", "is not an IANA time zone"),
    ({"group_by": "model;DROP TABLE usage_windows"}, "group_by", "cannot group by"),
    ({"group_by": "tenant"}, "group_by", "cannot group by ['tenant']"),
    ({"group_by": "model,model"}, "group_by", "each group may appear once"),
])
async def test_bad_parameters_are_400_naming_the_field(client: httpx.AsyncClient, params: dict[str, str],
                                                       field: str, reason: str) -> None:
    r = await client.get("/v1/usage", params={**RANGE, **params})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == field and reason in r.json()["error"]["reason"]


async def test_values_are_bound_never_spliced(client: httpx.AsyncClient, clickhouse: ClickHouse,
                                              api_keys: Keys) -> None:
    r = await client.get("/v1/usage", params={**RANGE, "tenant": "acme' OR '1'='1"}, headers=api_keys.admin)
    assert (r.status_code, r.json()["rows"]) == (200, [])
    assert clickhouse.query("SELECT count() FROM usage_windows") == [(3,)]
    bad_window = await client.get("/v1/usage", params={**RANGE, "window": "week"})
    assert bad_window.status_code == 400
    assert bad_window.json()["error"] == {"field": "query.window",
                                          "reason": "Input should be 'minute', 'hour', 'day' or 'month'"}
