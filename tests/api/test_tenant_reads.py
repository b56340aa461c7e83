"""Reads over HTTP on the real ClickHouse engine: exact bills and prices, and tenant isolation.

acme has 2,000,000 gpt-4o input tokens in November 2026 ($5.00 at list) and
100,000 in October ($0.25); globex has 1,000,000 output tokens in November
($10.00). "Today" is 2026-11-15, so November is an estimate.
"""

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.api.conftest import Keys, app_with
from tokenmeter.api.auth import Access
from tokenmeter.api.billing import Catalog, billing_router, prices_router
from tokenmeter.api.usage import usage_router
from tokenmeter.pricing.catalog import builtin_price_book, load_plans
from tokenmeter.storage.clickhouse import ClickHouse

pytestmark = pytest.mark.clickhouse
MONTH = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


@pytest.fixture
async def client(clickhouse: ClickHouse, access: Access) -> AsyncIterator[httpx.AsyncClient]:
    clickhouse.command(
        "INSERT INTO usage_windows (tenant, window_start, window_end, provider, model, service_tier, requests, "
        "events, input_tokens, output_tokens, input_cost, output_cost, cost_total, currency, version) VALUES "
        "('acme', '2026-10-20 10:00:00', '2026-10-20 10:01:00', 'openai', 'gpt-4o', 'standard', 1, 1, 100000, 0, "
        "0.25, 0, 0.25, 'USD', 1), "
        "('acme', '2026-11-02 10:00:00', '2026-11-02 10:01:00', 'openai', 'gpt-4o', 'standard', 4, 4, 2000000, 0, "
        "5, 0, 5, 'USD', 1), "
        "('globex', '2026-11-03 10:00:00', '2026-11-03 10:01:00', 'openai', 'gpt-4o', 'standard', 2, 2, 0, 1000000, "
        "0, 10, 10, 'USD', 1)")
    plans, default_plan = load_plans(None, None)
    catalog = Catalog(builtin_price_book(), plans, default_plan)
    app = app_with(usage_router(clickhouse, access), billing_router(clickhouse, access, catalog,
                                                                    today=lambda: date(2026, 11, 15)),
                   prices_router(access, catalog))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_estimate_and_invoices_are_exact(client: httpx.AsyncClient, api_keys: Keys) -> None:
    est = (await client.get("/v1/tenants/acme/estimate", headers=api_keys.tenant_acme)).json()
    assert (est["period"], est["from"], est["to"], est["estimate"], est["total"], est["currency"]) == (
        "2026-11", "2026-11-01", "2026-12-01", True, "5.00", "USD")
    october = (await client.get("/v1/tenants/acme/invoices/2026-10", headers=api_keys.tenant_acme)).json()
    assert (october["estimate"], october["total"], october["unpriced_models"]) == (False, "0.25", [])
    assert [(ln["description"], ln["quantity"], ln["unit"], ln["amount"]) for ln in october["lines"]] == [
        ("openai/gpt-4o metered usage", "0.1", october["lines"][0]["unit"], "0.25")]
    assert october["lines"][0]["unit"].startswith("1M tokens")
    globex = (await client.get("/v1/tenants/globex/invoices/2026-11", headers=api_keys.admin)).json()
    assert (globex["total"], globex["estimate"]) == ("10.00", True)


async def test_plan_comparison_and_price_history(client: httpx.AsyncClient, api_keys: Keys) -> None:
    doc = (await client.get("/v1/tenants/acme/plans/compare", params={"months": 2, "through": "2026-11"},
                            headers=api_keys.tenant_acme)).json()
    assert (doc["from"], doc["through"]) == ("2026-10", "2026-11")
    assert [(p["plan"], p["total"], p["monthly"]) for p in doc["plans"]] == [("list", "5.25", ["0.25", "5.00"])]
    history = (await client.get("/v1/prices/gpt-4o/history", params={"provider": "openai"},
                                headers=api_keys.tenant_globex)).json()
    assert history["periods"][-1]["per_million"]["input_tokens"] == "2.5"
    assert history["periods"][-1]["per_million"]["output_tokens"] == "10"
    missing = await client.get("/v1/prices/no-such-model/history", headers=api_keys.admin)
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "model")


async def test_bad_period_names_the_field(client: httpx.AsyncClient, api_keys: Keys) -> None:
    r = await client.get("/v1/tenants/acme/invoices/2026-13", headers=api_keys.tenant_acme)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "period")
    r = await client.get("/v1/tenants/acme/plans/compare", params={"through": "last"}, headers=api_keys.tenant_acme)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "through")


INJECTIONS = ["globex' OR '1'='1", "globex'; DROP TABLE usage_windows; --",
              "acme' UNION SELECT * FROM usage_windows --", "{tenant:String}", "globex\\", "%", "*"]


def b_reads() -> list[tuple[str, dict[str, str]]]:
    """Every way we know to ask for globex's data (or everyone's), as (path, params)."""
    usage = {**MONTH, "tenant": "globex"}
    reads = [("/v1/usage", usage), ("/v1/usage", {**usage, "format": "csv"}),
             ("/v1/usage", {**usage, "group_by": "model,token_class,provider,service_tier"}),
             ("/v1/tenants/globex/estimate", {}), ("/v1/tenants/globex/invoices/2026-11", {}),
             ("/v1/tenants/globex/plans/compare", {"through": "2026-11"}),
             ("/v1/tenants/GLOBEX/estimate", {}), ("/v1/tenants/globex%20/estimate", {}),
             ("/v1/tenants/globex/invoices/2026-13", {}),        # bad period: still 403 first
             ("/v1/usage", {**usage, "window": "week"}),         # bad parameter: still 403 first
             ("/v1/usage", {**usage, "tz": "Nowhere/Else"})]
    for bad in INJECTIONS:
        reads += [("/v1/usage", {**usage, "tenant": bad}), (f"/v1/tenants/{quote(bad, safe='')}/estimate", {}),
                  (f"/v1/tenants/{quote(bad, safe='')}/invoices/2026-11", {})]
        reads += [("/v1/usage", {**usage, name: bad}) for name in ("from", "to", "window", "group_by", "tz", "format")]
        reads += [("/v1/tenants/globex/invoices/" + quote(bad, safe=""), {}),
                  ("/v1/tenants/globex/plans/compare", {"through": bad}),
                  ("/v1/tenants/globex/plans/compare", {"months": bad})]
    return reads


@pytest.mark.parametrize("path", ["/v1/tenants/acme%2F..%2Fglobex/estimate", "/v1/tenants/acme/..%2Fglobex/estimate",
                                  "/v1/tenants/acme/estimate/..%2F..%2Fglobex%2Festimate"])
async def test_path_tricks_do_not_leave_the_own_tenant(client: httpx.AsyncClient, api_keys: Keys, path: str) -> None:
    """The server does not resolve dot segments: these name no route, so 404 with no data."""
    r = await client.get(path, headers=api_keys.tenant_acme)
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})


@pytest.mark.parametrize(("path", "params"), b_reads())
async def test_a_tenant_key_never_reads_another_tenant(client: httpx.AsyncClient, clickhouse: ClickHouse,
                                                       api_keys: Keys, path: str, params: dict[str, str]) -> None:
    r = await client.get(path, params=params, headers=api_keys.tenant_acme)
    assert r.status_code == 403, r.text
    assert r.json() == {"error": {"field": "tenant", "reason": "this key may read only its own tenant"}}
    assert clickhouse.query("SELECT count() FROM usage_windows") == [(3,)]


async def test_a_duplicated_tenant_parameter_is_checked_as_it_is_read(client: httpx.AsyncClient,
                                                                      api_keys: Keys) -> None:
    month = list(MONTH.items())
    sneaky = await client.get("/v1/usage", params=[("tenant", "acme"), ("tenant", "globex"), *month],
                              headers=api_keys.tenant_acme)
    assert sneaky.status_code == 403
    own = await client.get("/v1/usage", params=[("tenant", "globex"), ("tenant", "acme"), *month],
                           headers=api_keys.tenant_acme)
    assert (own.status_code, own.json()["tenant"], [r["tokens"] for r in own.json()["rows"]]) == (
        200, "acme", [2000000])


@pytest.mark.parametrize("path", ["/v1/usage?tenant=acme&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
                                  "/v1/tenants/acme/estimate", "/v1/tenants/acme/invoices/2026-11",
                                  "/v1/tenants/acme/plans/compare", "/v1/prices/gpt-4o/history"])
async def test_who_may_read_what(client: httpx.AsyncClient, api_keys: Keys, path: str) -> None:
    assert (await client.get(path, headers=api_keys.admin)).status_code == 200
    assert (await client.get(path, headers=api_keys.tenant_acme)).status_code == 200
    ingest = await client.get(path, headers=api_keys.ingest)
    assert (ingest.status_code, ingest.json()["error"]["reason"]) == (403, "an ingest key may only send events")
    for headers in ({}, api_keys.revoked, {"authorization": "Bearer tmk_000000000000_guess"},
                    {"authorization": "Basic YWRtaW46YWRtaW4="}):
        r = await client.get(path, headers=headers)
        assert (r.status_code, r.json()["error"]["field"]) == (401, "authorization")


async def test_the_rate_limit_answers_429_with_retry_after(clickhouse: ClickHouse, keys_file: object,
                                                           api_keys: Keys) -> None:
    from pathlib import Path

    from tokenmeter.api.auth import Guard, RateLimiter
    from tokenmeter.api.keys import KeyRing

    now = [0.0]
    access = Access(Guard(KeyRing(Path(str(keys_file))), default_rate=2, limiter=RateLimiter(lambda: now[0])))
    app = app_with(usage_router(clickhouse, access))
    params = {**MONTH, "tenant": "acme"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        codes = [(await c.get("/v1/usage", params=params, headers=api_keys.tenant_acme)).status_code
                 for _ in range(5)]
        assert codes == [200, 200, 200, 200, 429]  # a burst of twice the rate, then refused
        r = await c.get("/v1/usage", params=params, headers=api_keys.tenant_acme)
        assert (r.headers["retry-after"], r.json()["error"]["field"]) == ("1", "authorization")
        other = await c.get("/v1/usage", params={**MONTH, "tenant": "globex"}, headers=api_keys.tenant_globex)
        assert other.status_code == 200  # buckets are per key
        now[0] = 0.5  # one token back at 2/s
        assert (await c.get("/v1/usage", params=params, headers=api_keys.tenant_acme)).status_code == 200


async def test_clickhouse_down_is_503_with_retry_after_not_500(clickhouse: ClickHouse, access: Access,
                                                              api_keys: Keys, tmp_path: Path) -> None:
    from tokenmeter.faults import CLICKHOUSE_DOWN, Faults

    (tmp_path / CLICKHOUSE_DOWN).touch()
    down = ClickHouse(clickhouse._client, clickhouse.database, faults=Faults(tmp_path))
    plans, default_plan = load_plans(None, None)
    app = app_with(usage_router(down, access), billing_router(down, access, Catalog(builtin_price_book(), plans,
                                                                                     default_plan)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for path, params in (("/v1/usage", {**MONTH, "tenant": "acme"}), ("/v1/tenants/acme/estimate", {})):
            r = await c.get(path, params=params, headers=api_keys.tenant_acme)
            assert (r.status_code, r.json()["error"]["field"]) == (503, "clickhouse"), r.text
            assert r.headers["retry-after"] == "5"
