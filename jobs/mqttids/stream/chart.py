"""The bar chart of a stream run's totals: every term of the run, zero-hit terms included."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def write_chart(totals: dict[str, int], path: Path, title: str) -> Path:
    """Write a PNG with one bar per term, labelled with its count, in the run's term order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(totals)), 4.5))
    try:
        bars = ax.bar(list(totals), list(totals.values()), color="#3572a5")
        ax.bar_label(bars, labels=[f"{n:,}" for n in totals.values()], padding=2)
        ax.set_ylabel("mentions")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, max([1, *totals.values()]) * 1.15)  # zero-hit terms still get an axis and a label
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


def format_totals(run_id: str, totals: dict[str, int]) -> str:
    """The per-term totals as a small text table (what `make stream` prints)."""
    width = max(len(t) for t in totals) if totals else 4
    lines = [
        f"Tweet stream run {run_id}: mentions per term",
        *(f"  {t:<{width}}  {n:>8,}" for t, n in totals.items()),
    ]
    lines.append(f"  {'total':<{width}}  {sum(totals.values()):>8,}")
    return "\n".join(lines)
