"""Invoices as text: an aligned table, JSON and CSV. Pure (returns strings)."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from tokenmeter.pricing.invoice import Invoice


def as_json(inv: Invoice, *, estimate: bool = False) -> str:
    return orjson.dumps(as_dict(inv, estimate=estimate), option=orjson.OPT_INDENT_2).decode()


def as_dict(inv: Invoice, *, estimate: bool = False) -> dict[str, Any]:
    """The invoice as JSON-ready data; every money and quantity an exact decimal string."""
    return {
        "tenant": inv.tenant, "period": inv.period, "currency": inv.currency, "estimate": estimate,
        "lines": [{"description": ln.description, "quantity": str(ln.quantity), "unit": ln.unit,
                   "unit_price": str(ln.unit_price), "amount": str(ln.amount),
                   "exact_amount": str(ln.exact_amount)} for ln in inv.lines],
        "total": str(inv.total),
    }


def as_csv(inv: Invoice) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["tenant", "period", "description", "quantity", "unit", "unit_price", "amount", "currency"])
    for ln in inv.lines:
        writer.writerow([inv.tenant, inv.period, ln.description, ln.quantity, ln.unit, ln.unit_price, ln.amount,
                         inv.currency])
    writer.writerow([inv.tenant, inv.period, "TOTAL", "", "", "", inv.total, inv.currency])
    return out.getvalue()


def as_table(inv: Invoice, *, estimate: bool = False) -> str:
    title = f"{'Estimate' if estimate else 'Invoice'} {inv.tenant} {inv.period} ({inv.currency})"
    rows = [(ln.description, f"{ln.quantity.normalize():f}", ln.unit, f"{ln.unit_price.normalize():f}",
             f"{ln.amount:f}") for ln in inv.lines]
    head = ("description", "quantity", "unit", "unit price", "amount")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    fmt = "  ".join(f"{{:{'<' if i in (0, 2) else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [title, fmt.format(*head), *(fmt.format(*r) for r in rows)]
    lines.append(fmt.format("TOTAL", "", "", "", f"{inv.total:f}"))
    return "\n".join(lines)
