"""Does a report page show what the warehouse holds? Shared by the report and browser tests.

The page's tables are read as text (from the HTML, or from the browser's DOM), numbers parsed
back from their display form, and compared as row multisets with the test's own SELECTs on
the warehouse tables, written here independently of :mod:`mqttids.report.read`.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from html.parser import HTMLParser

INT = re.compile(r"^-?\d{1,3}(,\d{3})*$|^-?\d+$")
FLOAT = re.compile(r"^-?[\d,]+\.\d+$")
# JavaScript for a page or frame: {table id: [[cell text, ...], ...]} of the body rows.
TABLES_JS = """() => Object.fromEntries([...document.querySelectorAll('table[id^="t-"]')].map(t =>
  [t.id.slice(2), [...t.querySelectorAll('tbody tr')].map(r =>
    [...r.cells].map(c => c.innerText.trim()))]))"""


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.in_body = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and (attrs.get("id") or "").startswith("t-"):
            self.current = attrs["id"][2:]
            self.tables[self.current] = []
        elif tag == "tbody" and self.current:
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.tables[self.current].append([])
        elif tag == "td" and self.in_body:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.tables[self.current][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tbody":
            self.in_body = False
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def tables_from_html(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def shown(text: str):
    """A cell's text as a value: ints and 4-decimal floats parsed, the rest as text."""
    if INT.match(text):
        return int(text.replace(",", ""))
    if FLOAT.match(text):
        return round(float(text.replace(",", "")), 4)
    return text


def stored(value):
    """A warehouse value as the page shows it."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return value


def page_rows(tables: dict, name: str, columns: slice | None = None) -> Counter:
    rows = tables.get(name, [])
    return Counter(tuple(shown(c) for c in row[columns or slice(None)]) for row in rows)


def sql_rows(conn, sql: str, args: tuple) -> Counter:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return Counter(tuple(stored(v) for v in row) for row in cur.fetchall())


def assert_pipeline_page(tables: dict, conn, run_id: str, batch_date: str, learning: bool) -> None:
    """Every figure of the page's tables equals the warehouse's, for this run and batch."""
    day, rid = (batch_date,), (run_id,)
    expected = {
        "ingest-counts": sql_rows(
            conn, "SELECT split, target, count(*)::bigint FROM mqtt.packets WHERE batch_date = %s "
            "GROUP BY 1, 2", day),
        "avg-mqtt-len": sql_rows(
            conn, "SELECT split, packets, avg_mqtt_len FROM mqtt.avg_mqtt_len WHERE run_id = %s", rid),
        "avg-tcp-len": sql_rows(
            conn, "SELECT split, target, packets, avg_tcp_len FROM mqtt.avg_tcp_len_by_target "
            "WHERE run_id = %s", rid),
        "top-flags": sql_rows(
            conn, "SELECT split, top_x, rank, tcp_flags_hex, packets FROM mqtt.top_tcp_flags "
            "WHERE run_id = %s", rid),
        "class-histogram": sql_rows(
            conn, "SELECT split, target, packets, share FROM mqtt.class_histogram WHERE run_id = %s", rid),
        "hdrflags": sql_rows(
            conn, "SELECT split, target, mqtt_hdrflags_hex, packets, share FROM mqtt.top_hdrflags_by_target "
            "WHERE run_id = %s", rid),
    }  # fmt: skip
    for name, rows in expected.items():
        assert rows, f"the warehouse has no rows for {name}: the check would prove nothing"
        shown_rows = page_rows(tables, name)
        assert shown_rows == rows, f"{name}: page only {shown_rows - rows}; tables only {rows - shown_rows}"
    batch = sql_rows(
        conn, "SELECT batch_date, rows_read, rows_loaded, rows_rejected FROM mqtt.ingest_batches "
        "WHERE batch_date = %s", day)  # fmt: skip
    assert page_rows(tables, "ingest-batch", slice(0, 4)) == batch
    rejects = sql_rows(
        conn, "SELECT split, reason, count(*)::bigint FROM mqtt.rejected_rows WHERE batch_date = %s "
        "GROUP BY 1, 2", day)  # fmt: skip
    assert page_rows(tables, "rejects", slice(0, 3)) == rejects
    if not learning:
        assert "models" not in tables
        return
    models = sql_rows(
        conn, "SELECT model, max(value) FILTER (WHERE metric = 'accuracy'), "
        "max(value) FILTER (WHERE metric = 'macro_f1') FROM mqtt.model_metrics "
        "WHERE run_id = %s AND subset = 'test' AND label = 'all' GROUP BY model", rid)  # fmt: skip
    assert models and page_rows(tables, "models", slice(0, 3)) == models
    decision = sql_rows(
        conn, "SELECT model, challenger_macro_f1 FROM mqtt.champion_decisions WHERE run_id = %s", rid
    )
    assert page_rows(tables, "decision", slice(0, 2)) == decision
