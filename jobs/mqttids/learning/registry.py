"""The warehouse's view of the learning runs, for SQL users and the run report.

MLflow holds the models, their params, CV scores, times and figures
(:mod:`mqttids.learning.tracking`); these tables keep what SQL users read,
written by the evaluator from the same numbers it logs to MLflow:

    mqtt.model_runs        one row per (run, level, model): its MLflow run and registered
                           version, the batches it learned from, test rows and fingerprint
    mqtt.model_metrics     long form: (run, level, model, subset, metric, label) -> value;
                           subset 'test' is every test row, 'unseen' the test rows whose
                           feature vector never occurs in train (the leakage-aware figure)
    mqtt.confusion_matrix  long form: (run, level, model, subset, actual, predicted) -> rows
    mqtt.feature_columns   which columns each level's features kept or dropped, and why

The level is the feature level the model learnt from (``packet``, ``packet_context`` or
``connection``: :mod:`mqttids.learning.levels`).

The tables are created and changed by the warehouse migrations
(:mod:`mqttids.warehouse.migrations`), never here. Writing a model replaces its
rows (the metrics and matrix rows go with the ``model_runs`` row, ON DELETE
CASCADE), so a rerun never duplicates.
"""

from __future__ import annotations

from typing import Any

from psycopg2.extras import execute_values

from mqttids.connection.features import LEVELS
from mqttids.learning.metrics import Scores
from mqttids.schema import LABELS
from mqttids.warehouse.tables import CONFUSION, FEATURE_COLUMNS, MODEL_METRICS, MODEL_RUNS

SUBSETS = ("test", "unseen")
METRIC_COLUMNS = "run_id, model, subset, metric, label, value, level"
CONFUSION_COLUMNS = "run_id, model, subset, actual, predicted, rows, level"
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
    """Replace the model's rows (of its level) in all three tables (caller commits)."""
    level = run.get("level", "packet")
    with conn.cursor() as cur:
        cur.execute(
            f"DELETE FROM {MODEL_RUNS} WHERE run_id = %s AND level = %s AND model = %s",
            (run["run_id"], level, run["model"]),
        )
        columns = list(run)
        cur.execute(
            f"INSERT INTO {MODEL_RUNS} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
            list(run.values()),
        )
        for subset, s in by_subset.items():
            execute_values(
                cur,
                f"INSERT INTO {MODEL_METRICS} ({METRIC_COLUMNS}) VALUES %s",
                [(*r, level) for r in metric_rows(run["run_id"], run["model"], subset, s)],
            )
            execute_values(
                cur,
                f"INSERT INTO {CONFUSION} ({CONFUSION_COLUMNS}) VALUES %s",
                [(*r, level) for r in confusion_rows(run["run_id"], run["model"], subset, s)],
            )


def register_columns(conn, run_id: str, decisions: list[dict[str, str]], level: str = "packet") -> None:
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {FEATURE_COLUMNS} WHERE run_id = %s AND level = %s", (run_id, level))
        execute_values(
            cur,
            f"INSERT INTO {FEATURE_COLUMNS} (run_id, column_name, action, reason, level) VALUES %s",
            [(run_id, d["column"], d["action"], d["reason"], level) for d in decisions],
        )


def summary_rows(conn, run_id: str) -> list[tuple]:
    """(level, model, accuracy, macro F1, unseen macro F1, flood recall, version) of a run, by
    level, best first."""
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT r.level, r.model,
                   max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'accuracy'),
                   max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'macro_f1'),
                   max(m.value) FILTER (WHERE m.subset = 'unseen' AND m.metric = 'macro_f1'),
                   max(m.value) FILTER (WHERE m.subset = 'test' AND m.metric = 'recall'
                                          AND m.label = 'flood'),
                   r.registered_model || ' v' || r.model_version
            FROM {MODEL_RUNS} r JOIN {MODEL_METRICS} m USING (run_id, level, model)
            WHERE r.run_id = %s
            GROUP BY r.level, r.model, r.registered_model, r.model_version
            ORDER BY array_position(ARRAY{list(LEVELS)}::text[], r.level), 4 DESC, 2
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
        f"  {'level':<15}{'model':<12}{'accuracy':>10}{'macro F1':>10}{'unseen F1':>11}{'flood rec.':>11}"
        "  MLflow version",
    ]
    for level, model, acc, f1, unseen, flood, version in rows:
        unseen_text = f"{unseen:.4f}" if unseen is not None else "-"
        flood_text = f"{flood:.3f}" if flood is not None else "-"
        lines.append(
            f"  {level:<15}{model:<12}{acc:>10.4f}{f1:>10.4f}{unseen_text:>11}{flood_text:>11}  {version}"
        )
    return "\n".join(lines)
