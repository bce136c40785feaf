"""Plotly figures of the report, one function per chart, each from rows as read.py returns them.

Every figure is drawn without its JavaScript: the page inlines Plotly's bundle once
(:func:`plotly_js`), so it works offline and stays one file.
"""

from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

HEIGHT = 340
LAYOUT = {"height": HEIGHT, "margin": {"l": 60, "r": 20, "t": 40, "b": 60}, "template": "plotly_white"}


def plotly_js() -> str:
    """The full Plotly bundle, to inline once per page."""
    return get_plotlyjs()


def to_div(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def grouped_bars(rows: list[tuple], title: str, y_title: str, *, x: int, series: int, y: int) -> go.Figure:
    """One bar per (x, series) pair, bars of a series side by side: e.g. packets per class and split."""
    by_series: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        by_series[str(row[series])][str(row[x])] = row[y]
    fig = go.Figure(
        [go.Bar(name=name, x=list(points), y=list(points.values())) for name, points in by_series.items()]
    )
    fig.update_layout(title=title, barmode="group", yaxis_title=y_title, **LAYOUT)
    return fig


def bars(labels: list[str], values: list[float], title: str, y_title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=labels, y=values, text=[f"{v:,.4g}" for v in values], textposition="auto"))
    fig.update_layout(title=title, yaxis_title=y_title, **LAYOUT)
    return fig


def confusion(cells: list[tuple], model: str) -> go.Figure:
    """Heatmap of (actual, predicted, rows), actual classes down, annotated with the counts."""
    labels = sorted({a for a, _, _ in cells} | {p for _, p, _ in cells})
    grid = {(a, p): n for a, p, n in cells}
    z = [[grid.get((a, p), 0) for p in labels] for a in labels]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=labels, y=labels, colorscale="Blues", text=z, texttemplate="%{text:,}", showscale=False
        )
    )
    fig.update_layout(
        title=f"{model}: test rows by actual (down) and predicted class",
        xaxis_title="predicted",
        yaxis={"title": "actual", "autorange": "reversed"},
        **{**LAYOUT, "height": 380},
    )
    return fig


def champion_history(history: list[tuple]) -> go.Figure:
    """Macro F1 of every promoted champion over time, labelled with its model and run."""
    fig = go.Figure(
        go.Scatter(
            x=[h[0] for h in history],
            y=[h[3] for h in history],
            mode="lines+markers+text",
            text=[h[2] for h in history],
            textposition="top center",
            hovertext=[f"{h[2]} of {h[1]}" for h in history],
            line={"shape": "hv"},
        )
    )
    fig.update_layout(
        title="Champion macro F1 at each promotion",
        yaxis={"title": "macro F1 (test)", "range": [0, 1.05]},
        xaxis={"type": "date", "tickformat": "%Y-%m-%d %H:%M"},
        **LAYOUT,
    )
    return fig


def mentions_over_time(counts: list[tuple]) -> go.Figure:
    """Mentions per window, one line per term."""
    by_term: dict[str, list[tuple]] = defaultdict(list)
    for window, term, n in counts:
        by_term[term].append((window, n))
    fig = go.Figure(
        [
            go.Scatter(name=term, x=[w for w, _ in points], y=[n for _, n in points], mode="lines+markers")
            for term, points in by_term.items()
        ]
    )
    fig.update_layout(title="Mentions per window", yaxis_title="mentions", **LAYOUT)
    return fig
