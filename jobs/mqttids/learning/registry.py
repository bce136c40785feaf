"""The model registry in PostgreSQL: every model of every learning run, and its scores.

    mqtt.model_runs        one row per (run, model): params chosen, CV score, times,
                           artifact URI, the batches it learned from, the test fingerprint
    mqtt.model_metrics     long form: (run, model, subset, metric, label) -> value;
                           subset 'test' is every test row, 'unseen' the test rows whose
                           feature vector never occurs in train (the leakage-aware figure)
    mqtt.confusion_matrix  long form: (run, model, subset, actual, predicted) -> rows
    mqtt.feature_columns   which columns the run's features kept or dropped, and why

The tables are created and changed by the warehouse migrations
(:mod:`mqttids.warehouse.migrations`), never here. Writing a model replaces its
rows (the metrics and matrix rows go with the ``model_runs`` row, ON DELETE
CASCADE), so a rerun never duplicates.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg2.extras import execute_values

from mqttids.learning.metrics import Scores
from mqttids.schema import LABELS
from mqttids.warehouse.tables import SCHEMA

MODEL_RUNS = f"{SCHEMA}.model_runs"
MODEL_METRICS = f"{SCHEMA}.model_metrics"
CONFUSION = f"{SCHEMA}.confusion_matrix"
FEATURE_COLUMNS = f"{SCHEMA}.feature_columns"
SUBSETS = ("test", "unseen")
OVERALL = "all"  # the label of whole-model metrics (accuracy, macro F1, ...)


def metric_rows(run_id: str, model: str, subset: str, s: Scores) -> list[tuple]:
    rows = [
        (run_id, model, subset, "accuracy", OVERALL, s.accuracy),
        (run_id, model, subset, "macro_f1", OVERALL, s.macro_f1),
        (run_id, model, subset, "weighted_f1", OVERALL, s.weighted_f1),
        (run_id, model, subset, "rows", OVERALL, float(s.rows)),
    ]
    for c in s.per_class():
        rows += [
            (run_id, model, subset, m, c["label"], float(c[m]))
            for m in ("precision", "recall", "f1", "support")
        ]
    return rows


def confusion_rows(run_id: str, model: str, subset: str, s: Scores) -> list[tuple]:
    return [
        (run_id, model, subset, actual, predicted, int(s.matrix[i, j]))
        for i, actual in enumerate(LABELS)
        for j, predicted in enumerate(LABELS)
    ]


def register_model(conn, run: dict[str, Any], by_subset: dict[str, Scores]) -> None:
    """Replace the model's rows in all three tables (caller commits)."""
    with conn.cursor() as cur:
        cur.execute(
            f"DELETE FROM {MODEL_RUNS} WHERE run_id = %s AND model = %s", (run["run_id"], run["model"])
        )
        columns = list(run)
        values = [json.dumps(v) if k in ("params", "grid") else v for k, v in run.items()]
        cur.execute(
            f"INSERT INTO {MODEL_RUNS} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
            values,
        )
        for subset, s in by_subset.items():
            execute_values(
                cur,
                f"INSERT INTO {MODEL_METRICS} VALUES %s",
                metric_rows(run["run_id"], run["model"], subset, s),
            )
            execute_values(
                cur,
                f"INSERT INTO {CONFUSION} VALUES %s",
                confusion_rows(run["run_id"], run["model"], subset, s),
            )


def register_columns(conn, run_id: str, decisions: list[dict[str, str]]) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {FEATURE_COLUMNS} WHERE run_id = %s", (run_id,))
        execute_values(
            cur,
            f"INSERT INTO {FEATURE_COLUMNS} VALUES %s",
            [(run_id, d["column"], d["action"], d["reason"]) for d in decisions],
        )


def summary_rows(conn, run_id: str) -> list[tuple]:
    """(model, accuracy, macro F1, unseen macro F1, flood recall, CV seconds) of a run, best first."""
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT r.model,
                   max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'accuracy'),
                   max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'macro_f1'),
                   max(m.value) FILTER (WHERE m.subset = 'unseen' AND m.metric = 'macro_f1'),
                   max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'recall'
                                          AND m.label = 'flood'),
                   r.cv_seconds
            FROM {MODEL_RUNS} r JOIN {MODEL_METRICS} m USING (run_id, model)
            WHERE r.run_id = %s
            GROUP BY r.model, r.cv_seconds
            ORDER BY 3 DESC, 1
            """,
            (run_id,),
        )
        return cur.fetchall()


def summary(conn, run_id: str) -> str:
    """The run's metrics table, as ``make run`` prints it."""
    rows = summary_rows(conn, run_id)
    if not rows:
        return f"no models registered for run {run_id}"
    lines = [
        f"Models of learning run {run_id}",
        "(test split; 'unseen' = the test rows whose feature vector never occurs in train)",
        f"  {'model':<12}{'accuracy':>10}{'macro F1':>10}{'unseen F1':>11}{'flood rec.':>11}{'CV time':>9}",
    ]
    for model, acc, f1, unseen, flood, cv in rows:
        unseen_text = f"{unseen:.4f}" if unseen is not None else "-"
        lines.append(f"  {model:<12}{acc:>10.4f}{f1:>10.4f}{unseen_text:>11}{flood:>11.3f}{cv:>8.0f}s")
    return "\n".join(lines)
