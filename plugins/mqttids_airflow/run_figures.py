"""The one figure ``make run`` prints after each mqtt_pipeline task, read from the warehouse.

Each figure comes from the table the task wrote (rows loaded, rejects, packets analysed,
best macro F1 and the champion decision), so it shows what was stored, not what
the task claimed. Tasks without a table of their own get no figure.
"""

from __future__ import annotations

from mqttids.runtime import db
from mqttids.warehouse import tables


def _one(url: str, sql: str, args: tuple) -> tuple | None:
    conn = db.connect(url, application="mqttids-run")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()
    finally:
        conn.close()


def figure(url: str, batch_date: str, run_id: str, task_id: str) -> str:
    """The key figure of ``task_id`` in run ``run_id`` (batch ``batch_date``); "" if it has none."""
    if task_id in ("ingest", "quality_gate"):
        row = _one(
            url,
            f"SELECT rows_loaded, rows_rejected FROM {tables.BATCHES} WHERE batch_date = %s",
            (batch_date,),
        )
        if row is None:
            return "no batch stored"
        loaded, rejected = row
        ratio = rejected / (loaded + rejected) if loaded + rejected else 0.0
        return f"{loaded:,} rows loaded, {rejected:,} rejected ({ratio:.2%})"
    if task_id == "analytics":
        row = _one(
            url, f"SELECT packets FROM {tables.AVG_MQTT_LEN} WHERE run_id = %s AND split = 'all'", (run_id,)
        )
        return f"{row[0]:,} packets analysed" if row else "no analytics stored"
    if task_id == "evaluate":
        best = _one(
            url,
            f"SELECT model, value FROM {tables.MODEL_METRICS} WHERE run_id = %s AND subset = 'test' "
            "AND metric = 'macro_f1' AND label = 'all' ORDER BY value DESC LIMIT 1",
            (run_id,),
        )
        decision = _one(
            url,
            f"SELECT promoted FROM {tables.CHAMPION_DECISIONS} WHERE run_id = %s "
            "ORDER BY decided_at DESC LIMIT 1",
            (run_id,),
        )
        if best is None:
            return "no model registered"
        verdict = "" if decision is None else ("; champion promoted" if decision[0] else "; champion kept")
        return f"best macro F1 {best[1]:.4f} ({best[0]}){verdict}"
    return ""
