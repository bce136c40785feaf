"""The detection tables (created by warehouse revision 0006) and how scores are written to them.

A batch scoring of a capture replaces that capture's rows of the levels it scored, detections
and summary, in one transaction: a rerun never duplicates, and a reader never sees half of a
rescoring. The summary is computed by PostgreSQL from the rows just written, so the two always
agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg2.extras import execute_values

from mqttids.schema import LABELS
from mqttids.warehouse.tables import DETECTION_SUMMARY, DETECTIONS, SCHEMA

OFFSETS = f"{SCHEMA}.detection_offsets"
STATE = f"{SCHEMA}.detection_state"
PEERS = f"{SCHEMA}.detection_peers"  # revision 0007
ENDS = f"{SCHEMA}.detection_ends"
DEAD_LETTERS = f"{SCHEMA}.detection_dead_letters"
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"prob_{label}" for label in LABELS)
DEAD_LETTER_BYTES = 4096


@dataclass(frozen=True)
class Detection:
    """One scored connection (or window of one)."""

    capture: str
    level: str
    connection_id: int
    window_no: int
    first_time: datetime | None
    last_time: datetime | None
    packets: int
    probabilities: tuple[float, ...]  # in schema.LABELS order

    @property
    def predicted(self) -> str:
        return LABELS[max(range(len(LABELS)), key=self.probabilities.__getitem__)]


BATCH_COLUMNS = (
    "source",
    "capture",
    "level",
    "connection_id",
    "window_no",
    "first_time",
    "last_time",
    "packets",
    "predicted",
    *PROBABILITY_COLUMNS,
    "model",
    "model_version",
    "mlflow_run_id",
    "run_id",
)

SUMMARY = f"""
INSERT INTO {DETECTION_SUMMARY}
  (capture, level, predicted, connections, packets, model, model_version, run_id)
SELECT capture, level, predicted, count(DISTINCT connection_id), sum(packets), model, model_version, run_id
FROM {DETECTIONS} WHERE source = 'batch' AND capture = %s AND level = ANY(%s)
GROUP BY capture, level, predicted, model, model_version, run_id"""


def replace_capture(
    conn, capture: str, scored: dict[str, tuple[object, list[Detection]]], run_id: str
) -> None:
    """Replace the capture's rows of the scored levels ({level: (champion, detections)}); commits."""
    levels = list(scored)
    rows = [
        (
            "batch",
            d.capture,
            d.level,
            d.connection_id,
            d.window_no,
            d.first_time,
            d.last_time,
            d.packets,
            d.predicted,
            *d.probabilities,
            champion.name,
            champion.version,
            champion.mlflow_run_id,
            run_id,
        )
        for champion, detections in scored.values()
        for d in detections
    ]
    with conn.cursor() as cur:
        cur.execute(
            f"DELETE FROM {DETECTIONS} WHERE source = 'batch' AND capture = %s AND level = ANY(%s)",
            (capture, levels),
        )
        cur.execute(
            f"DELETE FROM {DETECTION_SUMMARY} WHERE capture = %s AND level = ANY(%s)", (capture, levels)
        )
        if rows:
            execute_values(cur, f"INSERT INTO {DETECTIONS} ({', '.join(BATCH_COLUMNS)}) VALUES %s", rows)
        cur.execute(SUMMARY, (capture, levels))
    conn.commit()


def scored_captures(conn) -> set[str]:
    """Captures the batch scoring has written a summary for (a landing run skips them)."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT DISTINCT capture FROM {DETECTION_SUMMARY}")
        found = {c for (c,) in cur.fetchall()}
    conn.commit()
    return found


def summary(conn, capture: str) -> list[tuple]:
    """(level, predicted, connections, packets, model version) of a capture, for people."""
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT level, predicted, connections, packets, model || ' v' || model_version
                FROM {DETECTION_SUMMARY} WHERE capture = %s ORDER BY level, packets DESC, predicted""",
            (capture,),
        )
        rows = cur.fetchall()
    conn.commit()
    return rows
