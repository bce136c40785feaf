"""The page's HTML: tables of rows, sections and the document around them, escaped throughout.

Tables carry ``id``s (``t-<name>``) and plain cells, so a browser test reads what a person sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from html import escape

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2933;background:#f7f8fa}
header{background:#017cee;color:#fff;padding:16px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.9}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:8px 20px 16px;margin:16px 0}
h2{font-size:18px;margin:12px 0}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border-bottom:1px solid #e1e4e8;padding:4px 10px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f1f3f5}
code,td.code{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px;align-items:start}
@media (max-width:1000px){.grid{grid-template-columns:1fr}}
.grid>div{min-width:0;overflow-x:auto}
.note{color:#52606d;font-size:13px}.nav a{margin-right:14px;color:#fff}
.yes{color:#0a7b32;font-weight:600}.no{color:#b42318;font-weight:600}
"""


# Charts in grid cells are drawn before the grid has its final widths: fit them once it has.
RESIZE = (
    "window.addEventListener('load',()=>document.querySelectorAll('.plotly-graph-div')"
    ".forEach(d=>Plotly.Plots.resize(d)));"
)


def cell(value) -> str:
    """A value as shown: integers with thousands separators, floats to 4 decimals."""
    if value is None:
        return '<td class="n">-</td>'
    if isinstance(value, bool):
        return f'<td class="{"yes" if value else "no"}">{"yes" if value else "no"}</td>'
    if isinstance(value, int):
        return f'<td class="n">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="n">{value:,.4f}</td>'
    if isinstance(value, datetime):
        return f"<td>{value:%Y-%m-%d %H:%M:%S %Z}</td>"
    if isinstance(value, date):
        return f"<td>{value.isoformat()}</td>"
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    return f"<td>{escape(str(value))}</td>"


def table(name: str, columns: Sequence[str], rows: Iterable[Sequence], *, code: int | None = None) -> str:
    """An HTML table with id ``t-<name>``; column ``code`` is shown monospaced (raw lines)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = [
            f'<td class="code">{escape(str(v))}</td>' if i == code else cell(v) for i, v in enumerate(row)
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table id="t-{escape(name)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def grid(*parts: str) -> str:
    return f'<div class="grid">{"".join(f"<div>{p}</div>" for p in parts)}</div>'


def document(
    title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: Sequence[str], script: str
) -> str:
    """The whole page; ``script`` (Plotly's bundle) is inlined in the head, so nothing is fetched."""
    links = "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t in nav)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
        f"<script>{script}</script></head><body><header><h1>{escape(title)}</h1>"
        f'<p>{escape(subtitle)}</p><p class="nav">{links}</p></header>'
        f"<main>{''.join(body)}</main><script>{RESIZE}</script></body></html>"
    )
