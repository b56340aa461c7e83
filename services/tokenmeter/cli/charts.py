"""Charts for the reports (PNG or SVG by file extension). Presentation only: figures become floats
here, after all money is computed in Decimal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tokenmeter.pricing.reports import CostPoint, PlanCost, PricePoint


def _figure(title: str, ylabel: str) -> tuple[Figure, Axes]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"{path}: chart files end in .png or .svg")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def price_trend_chart(model: str, points: Sequence[PricePoint], path: Path, today: date) -> None:
    """A step line per token class: the list price per 1M tokens over time."""
    fig, ax = _figure(f"{model}: list price per 1M tokens", "USD per 1M tokens")
    classes = sorted({c for p in points for c in p.per_million})
    for token_class in classes:
        xs, ys = [], []
        for p in points:
            if token_class in p.per_million:
                end = p.effective_to or max(today, p.effective_from + timedelta(days=30))
                xs += [p.effective_from, end]
                ys += [float(p.per_million[token_class])] * 2
        ax.plot(xs, ys, drawstyle="steps-post", label=token_class)  # type: ignore[arg-type]  # dates plot fine
    ax.legend()
    _save(fig, path)


def cost_trend_chart(tenant: str, points: Sequence[CostPoint], path: Path) -> None:
    fig, ax = _figure(f"{tenant}: effective cost per 1M tokens", "USD per 1M tokens")
    shown = [p for p in points if p.per_million is not None]
    ax.plot([p.month for p in shown], [float(p.per_million or 0) for p in shown], marker="o")
    _save(fig, path)


def plans_chart(tenant: str, costs: Sequence[PlanCost], path: Path) -> None:
    fig, ax = _figure(f"{tenant}: cost under each plan", "USD over the months compared")
    ax.barh([c.plan.name for c in costs][::-1], [float(c.total) for c in costs][::-1])
    _save(fig, path)
