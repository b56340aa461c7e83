"""``tokenmeter`` CLI. Each command loads settings once and wires what it needs."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import click

from tokenmeter.errors import TokenmeterError
from tokenmeter.events.models import TOKEN_CLASSES
from tokenmeter.settings import Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except TokenmeterError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def cli(ctx: click.Context, log_level: str) -> None:
    """tokenmeter: meter and rate LLM token usage (Kafka -> Faust -> ClickHouse)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"log_level": log_level}


@cli.command()
def migrate() -> None:
    """Apply pending ClickHouse migrations from schemas/clickhouse/."""
    from tokenmeter.storage.clickhouse import connect
    from tokenmeter.storage.migrations import migrate as run

    settings = _settings()
    db = connect(settings.clickhouse)
    try:
        applied = run(db)
    finally:
        db.close()
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none pending"
    click.echo(f"migrate: database={settings.clickhouse.database} applied={len(applied)} ({names})")


@cli.command()
def topics() -> None:
    """Create tokenmeter's Kafka topics if missing."""
    from tokenmeter.stream.topics import ensure_topics

    settings = _settings()
    created = asyncio.run(ensure_topics(settings.kafka, settings.stream))
    click.echo(f"topics: created={len(created)} {' '.join(created)}")


@cli.command()
@click.option("--sink/--no-sink", default=True, show_default=True,
              help="also run the ClickHouse sink (one process per embedded database may)")
@click.pass_context
def worker(ctx: click.Context, sink: bool) -> None:
    """Run the meter, the ClickHouse sink, /metrics and /v1/totals until Ctrl-C."""
    from tokenmeter.cli.worker import run_worker

    run_worker(_settings(), loglevel=ctx.obj["log_level"], sink=sink)


@cli.command()
def api() -> None:
    """Run only the HTTP API (ingest, usage, bills, prices) on TOKENMETER_HTTP_API_PORT.

    For deployments with a ClickHouse server, where the API scales apart from the workers
    (run those with TOKENMETER_HTTP_API_PORT=0). With the embedded engine the worker serves it.
    """
    import asyncio

    from tokenmeter.api.app import serve_api
    from tokenmeter.storage.clickhouse import connect

    settings = _settings()
    if not settings.http.api_port:
        raise click.ClickException("TOKENMETER_HTTP_API_PORT is 0: nothing to serve")
    db = connect(settings.clickhouse)
    try:
        asyncio.run(serve_api(settings, db, standalone=True))
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled: a requested stop, not an error
        pass
    finally:
        db.close()


@cli.command()
@click.option("--demo-rate", default=50.0, show_default=True, help="demo events per second (0: none)")
@click.pass_context
def run(ctx: click.Context, demo_rate: float) -> None:
    """The all-in-one embedded process: worker + sink + HTTP + a demo gateway load."""
    from tokenmeter.cli.worker import run_worker

    run_worker(_settings(), demo_rate=demo_rate, loglevel=ctx.obj["log_level"])


@cli.command()
@click.option("--tenants", default=5, show_default=True)
@click.option("--total", default=1000, show_default=True, help="unique events to send")
@click.option("--rate", default=0.0, show_default=True, help="records per second (0: as fast as possible)")
@click.option("--duplicate-ratio", default=0.05, show_default=True)
@click.option("--invalid-ratio", default=0.01, show_default=True)
@click.option("--out-of-order-ratio", default=0.02, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--tenant-prefix", default="tenant-", show_default=True)
def loadgen(tenants: int, total: int, rate: float, duplicate_ratio: float, invalid_ratio: float,
            out_of_order_ratio: float, seed: int, tenant_prefix: str) -> None:
    """Send synthetic gateway traffic to the events topic, then print what was sent."""
    from tokenmeter.ingest import loadgen as lg
    from tokenmeter.ingest.producer import UsageEmitter
    from tokenmeter.stream.topics import ensure_topics

    settings = _settings()
    for name, ratio in (("duplicate", duplicate_ratio), ("invalid", invalid_ratio),
                        ("out-of-order", out_of_order_ratio)):
        if not 0 <= ratio <= 1:
            raise click.BadParameter(f"must be between 0 and 1, got {ratio}", param_hint=f"--{name}-ratio")
    spec = lg.LoadSpec(total=total, tenants=tenants, duplicate_ratio=duplicate_ratio,
                       invalid_ratio=invalid_ratio, out_of_order_ratio=out_of_order_ratio,
                       window_seconds=settings.stream.window_seconds, seed=seed, tenant_prefix=tenant_prefix)
    records, expected = lg.plan(spec, now=lg.now_utc())

    async def go() -> int:
        await ensure_topics(settings.kafka, settings.stream)
        async with UsageEmitter(settings.kafka, settings.stream.events_topic) as emitter:
            return await lg.send(emitter, records, rate=rate or None)

    sent = asyncio.run(go())
    click.echo(f"loadgen: sent={sent} unique={expected.unique} duplicates={expected.duplicates} "
               f"invalid={len(expected.invalid)} tokens={expected.total_tokens()} seed={seed}")


@cli.command()
@click.option("--tenant", default=None, help="only this tenant")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.option("--direct", is_flag=True, help="query ClickHouse directly even in embedded mode")
def totals(tenant: str | None, as_json: bool, direct: bool) -> None:
    """Rated totals per tenant and model, read from ClickHouse (usage_windows FINAL).

    In embedded mode the running worker owns the ClickHouse files, so this asks
    its HTTP endpoint; with no worker running (or --direct) it opens them itself.
    """
    settings = _settings()
    rows: list[dict[str, Any]] | None = None
    if settings.clickhouse.embedded and not direct:
        rows = _totals_over_http(settings, tenant)
    if rows is None:
        rows = _totals_direct(settings, tenant)
    if as_json:
        click.echo(json.dumps(rows, default=str))
        return
    click.echo(f"{'tenant':<16} {'provider':<10} {'model':<18} {'requests':>8} {'tokens':>12} "
               f"{'cost':>18} cur")
    for r in rows:
        tokens = sum(int(r[c]) for c in TOKEN_CLASSES)
        flag = " (unpriced)" if r["unpriced"] else ""
        click.echo(f"{r['tenant']:<16} {r['provider']:<10} {r['model']:<18} {int(r['requests']):>8} "
                   f"{tokens:>12} {Decimal(str(r['cost_total'])):>18.6f} {r['currency']}{flag}")


def _totals_over_http(settings: Settings, tenant: str | None) -> list[dict[str, Any]] | None:
    from urllib.parse import urlencode

    query = f"?{urlencode({'tenant': tenant})}" if tenant else ""
    url = f"http://{settings.http.host}:{settings.http.port}/v1/totals{query}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            data: list[dict[str, Any]] = json.loads(resp.read())
            return data
    except (urllib.error.URLError, OSError):
        return None


def _totals_direct(settings: Settings, tenant: str | None) -> list[dict[str, Any]]:
    from tokenmeter.storage.clickhouse import connect
    from tokenmeter.storage.queries import tenant_totals
    from tokenmeter.stream.app import total_doc

    db = connect(settings.clickhouse)
    try:
        sql, params = tenant_totals(tenant)
        return [total_doc(r) for r in db.query(sql, params)]
    finally:
        db.close()


@cli.command()
@click.argument("query")
def sql(query: str) -> None:
    """Run one SQL statement against ClickHouse and print result rows as JSON lines.

    The statement runs as given (it is your database: use SELECTs to read).
    Opens the database directly, so in embedded mode stop the worker first (it
    owns the files). Decimals print as strings to keep every digit.
    """
    from tokenmeter.storage.clickhouse import connect

    settings = _settings()
    db = connect(settings.clickhouse)
    try:
        names, rows = db.query_with_names(query)
    finally:
        db.close()
    for row in rows:
        click.echo(json.dumps(dict(zip(names, row, strict=True)), default=_json_default))


def _json_default(value: Any) -> str:
    return str(value)  # Decimal and datetime: exact text


@cli.command()
@click.argument("name", default="usage-event.v1",
                type=click.Choice(["usage-event.v1", "price-book.v1", "plans.v1", "openapi", "metrics",
                                   "dashboards"]))
@click.option("--write", is_flag=True, help="write schemas/<name>.schema.json (openapi: schemas/openapi.json)")
def schema(name: str, write: bool) -> None:
    """Print a JSON Schema (the event, the price book, the plans file), the HTTP API's OpenAPI document,
    or the metrics catalog (``metrics --write`` updates deploy/README.md)."""
    from tokenmeter.contracts import OPERATIONS_README, checked_in, operations_readme, render
    from tokenmeter.settings import REPO_ROOT

    if name == "dashboards":  # deploy/grafana/dashboards/<uid>.json
        from tokenmeter.observability.dashboards import DASHBOARDS
        from tokenmeter.observability.dashboards import render as render_dashboard

        for d in DASHBOARDS:
            if write:
                (REPO_ROOT / "deploy" / "grafana" / "dashboards" / f"{d.uid}.json").write_bytes(render_dashboard(d))
            else:
                sys.stdout.buffer.write(render_dashboard(d))
        return
    if name == "metrics":
        if write:
            OPERATIONS_README.write_text(operations_readme())
        else:
            from tokenmeter.observability.metrics import catalog_markdown

            click.echo(catalog_markdown(), nl=False)
        return
    if write:
        checked_in(name).write_bytes(render(name))
    else:
        sys.stdout.buffer.write(render(name))


def _instant(value: str) -> int:
    """ISO-8601 date or date-time -> epoch ms; without an offset it is UTC."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date or date-time (e.g. 2026-11-01T00:00Z)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@cli.command()
@click.option("--from", "from_", required=True, help="first window start included (ISO-8601; UTC if no offset)")
@click.option("--to", required=True, help="window starts before this instant (ISO-8601; UTC if no offset)")
@click.option("--tenant", default=None, help="only this tenant")
@click.option("--repair", is_flag=True, help="re-emit corrected snapshots of drifted windows to the windows topic")
@click.option("--metrics-file", type=click.Path(dir_okay=False), default=None,
              help="also write the drift gauges here (Prometheus text format, for node_exporter's textfile)")
def reconcile(from_: str, to: str, tenant: str | None, repair: bool, metrics_file: str | None) -> None:
    """Recompute window totals from usage_events and compare them with usage_windows.

    Prints one line per drifted window and a summary; exits 1 if any window drifted
    (also with --repair: run it again once the sink has stored the repairs).
    Opens the database directly, so in embedded mode stop the worker first.
    """
    import time

    from prometheus_client import REGISTRY, write_to_textfile

    from tokenmeter import reconcile as rec
    from tokenmeter.observability import metrics
    from tokenmeter.pricing.catalog import load_price_book
    from tokenmeter.storage.clickhouse import connect

    from_ms, to_ms = _instant(from_), _instant(to)
    if to_ms <= from_ms:
        raise click.BadParameter("--to must be after --from", param_hint="--to")
    settings = _settings()
    prices = load_price_book(settings.stream.price_book)
    db = connect(settings.clickhouse)
    try:
        report = rec.run(db, prices, from_ms, to_ms, tenant)
    finally:
        db.close()
    for drift in report.drifts:
        click.echo(drift.describe())
    metrics.RECONCILE_DRIFT_WINDOWS.set(len(report.drifts))
    metrics.RECONCILE_DRIFT_TOKENS.set(report.token_drift)
    if metrics_file:
        write_to_textfile(metrics_file, REGISTRY)
    repaired = 0
    if repair and report.drifts:
        repaired = asyncio.run(rec.emit_repairs(
            settings.kafka, settings.stream.windows_topic, report.drifts, prices,
            window_ms=settings.stream.window_seconds * 1000, now_ms=int(time.time() * 1000)))
    click.echo(f"reconcile: windows={report.windows} drifted={len(report.drifts)} "
               f"token_drift={report.token_drift} repaired={repaired}")
    if report.drifts:
        sys.exit(1)


@cli.command("invoice")
@click.option("--tenant", required=True)
@click.option("--period", default=None, help="calendar month, e.g. 2026-11 (default: the current month)")
@click.option("--estimate", is_flag=True, help="month-to-date estimate of the current period")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--store", is_flag=True, help="also store the lines in ClickHouse (invoice_lines)")
def invoice_cmd(tenant: str, period: str | None, estimate: bool, fmt: str, store: bool) -> None:
    """Compute a tenant's invoice for a month from ClickHouse and the plan(s) in force.

    Plans come from TOKENMETER_PLANS (schemas/plans.v1.schema.json); without it everyone is on
    list-price pay-as-you-go. Prepaid credits draw down from what earlier *stored* invoices left
    (issue each month with --store). In embedded mode stop the worker first (it owns the files).
    """
    import time
    from datetime import UTC, datetime

    from tokenmeter.pricing import render
    from tokenmeter.statements import billing_period, invoice_for
    from tokenmeter.storage.clickhouse import connect

    settings = _settings()
    try:
        plans, default_plan = _plans(settings)
        p = billing_period(plans, tenant, period, datetime.now(UTC).date())
    except TokenmeterError as exc:
        raise click.ClickException(str(exc)) from exc
    db = connect(settings.clickhouse)
    try:
        try:
            statement = invoice_for(db, plans, default_plan, tenant, p)
        except TokenmeterError as exc:
            raise click.ClickException(str(exc)) from exc
        inv, unpriced = statement.invoice, statement.unpriced
        if store:
            _store_invoice(db, inv, int(time.time() * 1000), estimate)
    finally:
        db.close()
    for model in unpriced:
        click.echo(f"warning: {model} has usage without a list price in {p.name}: counted, not billed", err=True)
    out = {"table": lambda: render.as_table(inv, estimate=estimate), "json": lambda: render.as_json(
        inv, estimate=estimate), "csv": lambda: render.as_csv(inv)}[fmt]()
    click.echo(out.rstrip("\n"))


def _plans(settings: Settings) -> tuple[Any, str | None]:
    from tokenmeter.pricing.catalog import load_plans

    return load_plans(settings.stream.plans, settings.stream.default_plan)


def _store_invoice(db: Any, inv: Any, issued_ms: int, estimate: bool) -> None:
    from decimal import Decimal

    from tokenmeter.storage.rows import from_ms

    columns = ("tenant", "period", "issued_at", "line_no", "description", "quantity", "unit", "unit_price",
               "exact_amount", "amount", "currency", "estimate")
    def fit(d: Any) -> Any:  # Decimal(38, 12): prorated figures can carry 28 digits
        return d.quantize(Decimal("1e-12"))

    rows = [[inv.tenant, inv.period, from_ms(issued_ms), i, ln.description, fit(ln.quantity), ln.unit,
             fit(ln.unit_price), fit(ln.exact_amount), ln.amount, inv.currency, estimate]
            for i, ln in enumerate(inv.lines, start=1)]
    db.insert("invoice_lines", rows, columns)


@cli.group()
def prices() -> None:
    """Price books: import from real catalogs, check a book."""


@prices.command("import")
@click.option("--from", "source", type=click.Choice(["genai-prices", "litellm"]), default="genai-prices",
              show_default=True, help="genai-prices: the data bundled with the pinned package; litellm: --file")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="LiteLLM's model_prices_and_context_window.json (with --from litellm)")
@click.option("--effective-from", default=None, help="date the LiteLLM prices take effect (default: today, UTC)")
@click.option("--provider", "providers", multiple=True, help="only these providers (repeatable; default all)")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True, help="YAML book to write")
@click.option("--report", is_flag=True, help="list every price, constraint or alias that was not imported")
def prices_import(source: str, path: str | None, effective_from: str | None, providers: tuple[str, ...], out: str,
                  report: bool) -> None:
    """Write a price book (schemas/price-book.v1.schema.json) from a public catalog."""
    from datetime import UTC, date, datetime
    from pathlib import Path

    import yaml

    from tokenmeter.pricing.book import PriceBook
    from tokenmeter.pricing.importers import from_genai_prices, from_litellm

    if source == "litellm":
        if path is None:
            raise click.BadParameter("--from litellm needs --file (the price map JSON)", param_hint="--file")
        try:
            start = date.fromisoformat(effective_from) if effective_from else datetime.now(UTC).date()
        except ValueError as exc:
            raise click.BadParameter(f"{effective_from!r} is not a date like 2026-12-01",
                                     param_hint="--effective-from") from exc
        book, result = from_litellm(Path(path).read_bytes(), start)
        if providers:
            book = book.model_copy(update={"models": [m for m in book.models if m.provider in providers]})
    else:
        book, result = from_genai_prices(set(providers) or None)
    PriceBook(book)  # the same validation a worker applies on load: duplicates, overlaps
    doc = book.model_dump(mode="json", exclude_defaults=True)
    Path(out).write_text(yaml.safe_dump({"version": 1, **doc}, sort_keys=False, allow_unicode=True))
    if report:
        for line in result.skipped:
            click.echo(f"skipped: {line}")
    click.echo(f"prices import: source={source} models={result.imported} skipped={len(result.skipped)} out={out}")


@prices.command("trend")
@click.option("--model", required=True, help="model or alias")
@click.option("--provider", default=None, help="needed when several providers list the model")
@click.option("--chart", type=click.Path(dir_okay=False), default=None, help="also draw it (.png or .svg)")
def prices_trend(model: str, provider: str | None, chart: str | None) -> None:
    """A model's list price per token class over time, from the price book in use."""
    from datetime import UTC, datetime
    from pathlib import Path

    from tokenmeter.pricing.catalog import load_price_book
    from tokenmeter.pricing.reports import price_trend

    book = load_price_book(_settings().stream.price_book)
    providers = [provider] if provider else sorted({m.provider for m in book.models()})
    found = [(p, price_trend(book, p, model)) for p in providers]
    found = [(p, points) for p, points in found if points]
    if len(found) != 1:
        raise click.ClickException(f"{model!r} is listed by {len(found)} providers in the book"
                                   + (f" ({', '.join(p for p, _ in found)}): pass --provider" if found else ""))
    prov, points = found[0]
    classes = [c for c in TOKEN_CLASSES if any(c in p.per_million for p in points)]
    click.echo(f"{prov}/{model} list price, USD per 1M tokens")
    click.echo("  ".join(["from      ", "to        ", *(f"{c.removesuffix('_tokens'):>12}" for c in classes)]))
    for p in points:
        cells = [f"{p.per_million[c].normalize():>12f}" if c in p.per_million else f"{'-':>12}" for c in classes]
        click.echo("  ".join([p.effective_from.isoformat(), (p.effective_to.isoformat() if p.effective_to
                                                              else "(current) "), *cells]))
    if chart:
        from tokenmeter.cli.charts import price_trend_chart

        price_trend_chart(f"{prov}/{model}", points, Path(chart), datetime.now(UTC).date())
        click.echo(f"chart: {chart}")


@prices.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def prices_check(path: str) -> None:
    """Validate a price book file; name the field and reason of every problem."""
    from pathlib import Path

    from tokenmeter.pricing.book import PriceBook
    from tokenmeter.pricing.errors import PriceBookError

    try:
        book = PriceBook.from_file(Path(path))
    except PriceBookError as exc:
        raise click.ClickException(str(exc)) from exc
    models = list(book.models())
    click.echo(f"prices check: ok models={len(models)} periods={sum(len(m.periods) for m in models)}")


@cli.group()
def usage() -> None:
    """Reports over stored usage."""


@usage.command("cost-trend")
@click.option("--tenant", required=True)
@click.option("--chart", type=click.Path(dir_okay=False), default=None, help="also draw it (.png or .svg)")
def usage_cost_trend(tenant: str, chart: str | None) -> None:
    """What the tenant actually paid per 1M tokens, by month (list-rated money / tokens)."""
    from pathlib import Path

    from tokenmeter.pricing.reports import cost_trend
    from tokenmeter.storage.clickhouse import connect
    from tokenmeter.storage.queries import monthly_cost

    db = connect(_settings().clickhouse)
    try:
        points = cost_trend([(m, int(t), c) for m, t, c in db.query(*monthly_cost(tenant))])
    finally:
        db.close()
    click.echo(f"{'month':<8}  {'tokens':>14}  {'money':>16}  {'per 1M tokens':>14}")
    for p in points:
        per = f"{p.per_million:.6f}" if p.per_million is not None else "-"
        click.echo(f"{p.month:<8}  {p.tokens:>14,}  {p.money:>16f}  {per:>14}")
    if chart:
        from tokenmeter.cli.charts import cost_trend_chart

        cost_trend_chart(tenant, points, Path(chart))
        click.echo(f"chart: {chart}")


@cli.group()
def plans() -> None:
    """Plans: compare what a tenant's real usage would cost under each."""


@plans.command("compare")
@click.option("--tenant", required=True)
@click.option("--months", default=3, show_default=True, type=click.IntRange(1, 36))
@click.option("--through", default=None, help="last month compared, e.g. 2026-11 (default: the previous month)")
@click.option("--chart", type=click.Path(dir_okay=False), default=None, help="also draw it (.png or .svg)")
def plans_compare(tenant: str, months: int, through: str | None, chart: str | None) -> None:
    """Each available plan on the tenant's real usage of the last months, cheapest first, with break-even."""
    from datetime import UTC, datetime
    from pathlib import Path

    from tokenmeter.statements import last_months, plan_comparison, previous_month
    from tokenmeter.storage.clickhouse import connect

    settings = _settings()
    try:
        periods = last_months(through or previous_month(datetime.now(UTC).date()), months)
        available, _ = _plans(settings)
    except TokenmeterError as exc:
        raise click.ClickException(str(exc)) from exc
    db = connect(settings.clickhouse)
    try:
        results, unpriced = plan_comparison(db, available, tenant, periods)
    finally:
        db.close()
    for model in unpriced:
        click.echo(f"warning: {model} has usage without a list price: counted, not compared", err=True)
    click.echo(f"{tenant}: {periods[0].name}..{periods[-1].name} under each plan, cheapest first")
    for r in results:
        even = "-" if r.break_even is None else f"{r.break_even}x usage"
        monthly = " ".join(f"{m:f}" for m in r.monthly)
        click.echo(f"{r.plan.id:<16} {r.total:>12f} {r.plan.currency}  months: {monthly}  break-even: {even}")
    if chart:
        from tokenmeter.cli.charts import plans_chart

        plans_chart(tenant, results, Path(chart))
        click.echo(f"chart: {chart}")


@cli.group()
def keys() -> None:
    """API keys: create (shown once), list, revoke. Stored hashed in TOKENMETER_HTTP_API_KEYS_FILE."""


@keys.command("create")
@click.option("--role", type=click.Choice(["ingest", "tenant", "admin"]), required=True,
              help="ingest: send events; tenant: read one tenant; admin: read all, send events")
@click.option("--tenant", "tenants", multiple=True,
              help="tenant role: the tenant it reads (once); ingest role: a tenant it may send for (repeatable)")
@click.option("--name", default="", help="a label for people, e.g. the gateway or customer it belongs to")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="requests per second (burst twice that); default TOKENMETER_HTTP_API_RATE_PER_SECOND")
def keys_create(role: str, tenants: tuple[str, ...], name: str, rate: float | None) -> None:
    """Create a key. Stdout is the key alone (KEY=$(tokenmeter keys create ...)); it is not stored in clear."""
    from tokenmeter.api import keys as store

    path = _settings().api_keys_file
    record, full = store.create(path, role, tenants, name=name, rate_per_second=rate)  # type: ignore[arg-type]
    click.echo(full)
    scope = ",".join(record.tenants) or "all"
    click.echo(f"created key id={record.id} role={record.role} tenants={scope} in {path}; "
               "copy it now, it is shown only once", err=True)


@keys.command("list")
def keys_list() -> None:
    """Every key: id, role, tenants, rate, created, revoked (never the secret)."""
    from tokenmeter.api import keys as store

    settings = _settings()
    click.echo(f"{'id':<12}  {'role':<6}  {'tenants':<24}  {'rate/s':>8}  {'created':<20}  {'revoked':<20}  name")
    for k in store.read(settings.api_keys_file).keys:
        rate = f"{k.rate_per_second:g}" if k.rate_per_second else f"{settings.http.api_rate_per_second:g}*"
        click.echo(f"{k.id:<12}  {k.role:<6}  {','.join(k.tenants) or '(all)':<24}  {rate:>8}  "
                   f"{k.created_at:%Y-%m-%dT%H:%M:%SZ}  "
                   f"{k.revoked_at.strftime('%Y-%m-%dT%H:%M:%SZ') if k.revoked_at else '-':<20}  {k.name}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id; running APIs refuse it within a second."""
    from tokenmeter.api import keys as store

    record = store.revoke(_settings().api_keys_file, key_id)
    click.echo(f"revoked key id={record.id} at {record.revoked_at:%Y-%m-%dT%H:%M:%SZ}")


@cli.command("check-config")
def check_config() -> None:
    """Validate every setting and print the effective configuration (secrets hidden)."""
    settings = _settings()
    click.echo(settings.model_dump_json(indent=2))


def main() -> None:
    try:
        cli(standalone_mode=True)
    except TokenmeterError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
