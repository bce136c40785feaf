"""The data-quality gate between ingest and analytics.

A batch passes when it was loaded, every data line the load read was either
stored or rejected, ``mqtt.packets`` holds the rows the load recorded, its
reject ratio is under a threshold, every class has rows in every split (a
model trained without a class, or analytics over a half-empty batch, would be
silently wrong), and every capture holds MQTT (a capture without any, most
often of a broker on another port than 1883, loads its TCP packets but says
nothing about MQTT). All checks
run, and a failure lists every check that failed, not just the first.
Unlabelled packets (captures matching no class) are counted but not checked:
analytics and learning read labelled packets only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from mqttids.schema import LABELS, SPLITS
from mqttids.warehouse import tables


class QualityGateFailed(RuntimeError):
    """The batch is not fit for analytics; the message lists why."""


@dataclass
class GateReport:
    """What the gate saw, for the task log."""

    batch_date: date
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    counts: dict[tuple[str, str | None], int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reject_ratio(self) -> float:
        total = self.rows_loaded + self.rows_rejected
        return self.rows_rejected / total if total else 0.0

    def __str__(self) -> str:
        status = "FAILED" if self.failures else "passed"
        lines = [
            f"quality gate {status} for batch {self.batch_date}: {self.rows_read:,} rows read, "
            f"{self.rows_loaded:,} loaded, "
            f"{self.rows_rejected:,} rejected (ratio {self.reject_ratio:.4%})"
        ]
        lines += [f"  - {f}" for f in self.failures]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def check_batch(conn, batch_date: date, max_reject_ratio: float) -> GateReport:
    """Run every check on one batch; raise QualityGateFailed if any fails."""
    if not 0 <= max_reject_ratio <= 1:
        raise ValueError(f"max_reject_ratio must be within [0, 1], got {max_reject_ratio}")
    report = GateReport(batch_date=batch_date)
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT rows_read, rows_loaded, rows_rejected FROM {tables.BATCHES} WHERE batch_date = %s",
            (batch_date,),
        )
        row = cur.fetchone()
        if row is None:
            report.failures.append("the batch was never loaded (no row in mqtt.ingest_batches)")
            raise QualityGateFailed(str(report))
        report.rows_read, report.rows_loaded, report.rows_rejected = row
        cur.execute(
            f"SELECT split, target, count(*) FROM {tables.PACKETS} WHERE batch_date = %s GROUP BY 1, 2",
            (batch_date,),
        )
        report.counts = {(split, target): n for split, target, n in cur.fetchall()}
        # Files with a capture time are captures (or per-class CSVs): each must hold some MQTT.
        cur.execute(
            f"SELECT source_file, count(*) FROM {tables.PACKETS} WHERE batch_date = %s "
            "AND capture_time IS NOT NULL GROUP BY 1 HAVING max(mqtt_msgtype) = 0 ORDER BY 1",
            (batch_date,),
        )
        no_mqtt = cur.fetchall()
    unaccounted = report.rows_read - report.rows_loaded - report.rows_rejected
    if unaccounted:
        report.failures.append(
            f"the load read {report.rows_read:,} data lines but recorded {report.rows_loaded:,} loaded and "
            f"{report.rows_rejected:,} rejected ({unaccounted:+,} unaccounted for)"
        )
    if sum(report.counts.values()) != report.rows_loaded:
        report.failures.append(
            f"mqtt.packets holds {sum(report.counts.values()):,} rows but the load recorded "
            f"{report.rows_loaded:,}"
        )
    if report.reject_ratio > max_reject_ratio:
        report.failures.append(
            f"reject ratio {report.reject_ratio:.4%} exceeds the threshold {max_reject_ratio:.4%} "
            "(see mqtt.rejected_rows for the lines and reasons)"
        )
    empty = [f"{s}/{t}" for s in SPLITS for t in LABELS if report.counts.get((s, t), 0) == 0]
    if empty:
        report.failures.append(f"classes with no rows: {', '.join(empty)}")
    for source_file, packets in no_mqtt:
        report.failures.append(
            f"{source_file} holds no MQTT: its {packets:,} TCP packets loaded, none decoded as MQTT "
            "(a broker on another port than 1883? give --mqtt-ports / the mqtt_ports param)"
        )
    unlabelled = sum(n for (_, target), n in report.counts.items() if target is None)
    if unlabelled:
        report.notes.append(
            f"{unlabelled:,} packets are unlabelled (captures matching no class): kept for scoring, "
            "left out of analytics and learning"
        )
    if report.failures:
        raise QualityGateFailed(str(report))
    return report
