"""Champion/challenger: the served model changes only for a better one.

After a learning run registers its models, its best model (by test macro F1)
challenges ``mqtt.champion``. It is promoted only if it beats the champion's
macro F1 *on the same test data*: when the champion was scored on other test
rows (its fingerprint differs), the caller re-scores it on this run's test
rows first. Every decision, promoted or refused, is stored with its reason in
``mqtt.champion_decisions``, so a scheduled or UI-triggered retraining never
silently replaces a better model. The tables come from the warehouse migrations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mqttids.warehouse.tables import SCHEMA

log = logging.getLogger(__name__)

CHAMPION = f"{SCHEMA}.champion"
DECISIONS = f"{SCHEMA}.champion_decisions"
SLOT = "mqtt_ids"  # one champion for the whole platform


@dataclass(frozen=True)
class Contender:
    """A model and its macro F1 on a given test set."""

    run_id: str
    model: str
    macro_f1: float
    test_fingerprint: str


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion: Contender | None  # the champion before the decision, scored on the challenger's test data


def current(cur, slot: str = SLOT) -> Contender | None:
    cur.execute(f"SELECT run_id, model, macro_f1, test_fingerprint FROM {CHAMPION} WHERE slot = %s", (slot,))
    row = cur.fetchone()
    return Contender(*row) if row else None


def decide(challenger: Contender, champion: Contender | None) -> Decision:
    """Promote only a strictly better macro F1 on the same test data."""
    if champion is None:
        return Decision(True, "no champion yet", None)
    if champion.test_fingerprint != challenger.test_fingerprint:
        raise ValueError("champion and challenger were scored on different test data")
    if (champion.run_id, champion.model) == (challenger.run_id, challenger.model):
        return Decision(True, "rerun of the champion's own run: its scores are refreshed", champion)
    if challenger.macro_f1 > champion.macro_f1:
        return Decision(
            True,
            f"macro F1 {challenger.macro_f1:.4f} beats the champion's {champion.macro_f1:.4f} "
            "on the same test data",
            champion,
        )
    return Decision(
        False,
        f"macro F1 {challenger.macro_f1:.4f} does not beat the champion's {champion.macro_f1:.4f} "
        f"({champion.run_id}/{champion.model}) on the same test data",
        champion,
    )


def challenge(
    conn, challenger: Contender, rescore: Callable[[Contender], float], slot: str = SLOT
) -> Decision:
    """Decide and store the decision, under a lock so two runs never promote at once.

    ``rescore`` gives the champion's macro F1 on the challenger's test rows; it is
    called only when the champion was scored on different rows. If it fails (say the
    champion's files were deleted), the champion is kept: no comparison, no promotion.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('mqttids.champion'))")
        champion = current(cur, slot)
        if champion and champion.test_fingerprint != challenger.test_fingerprint:
            log.info(
                "champion %s/%s was scored on other test rows: re-scoring it", champion.run_id, champion.model
            )
            try:
                champion = Contender(
                    champion.run_id, champion.model, rescore(champion), challenger.test_fingerprint
                )
            except Exception as err:  # noqa: BLE001 - any failure means "cannot compare"
                log.exception("re-scoring champion %s/%s failed", champion.run_id, champion.model)
                decision = Decision(
                    False, f"champion could not be re-scored on this test data ({err}); kept", champion
                )
            else:
                decision = decide(challenger, champion)
        else:
            decision = decide(challenger, champion)
        if decision.promoted:
            cur.execute(
                f"""INSERT INTO {CHAMPION} (slot, run_id, model, macro_f1, test_fingerprint, reason)
                    VALUES (%s, %s, %s, %s, %s, %s)
                    ON CONFLICT (slot) DO UPDATE SET run_id = EXCLUDED.run_id, model = EXCLUDED.model,
                      macro_f1 = EXCLUDED.macro_f1, test_fingerprint = EXCLUDED.test_fingerprint,
                      reason = EXCLUDED.reason, promoted_at = now()""",
                (
                    slot,
                    challenger.run_id,
                    challenger.model,
                    challenger.macro_f1,
                    challenger.test_fingerprint,
                    decision.reason,
                ),
            )
        cur.execute(
            f"INSERT INTO {DECISIONS} (slot, run_id, model, challenger_macro_f1, champion_run_id, "
            "champion_model, champion_macro_f1, promoted, reason) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                slot,
                challenger.run_id,
                challenger.model,
                challenger.macro_f1,
                champion and champion.run_id,
                champion and champion.model,
                champion and champion.macro_f1,
                decision.promoted,
                decision.reason,
            ),
        )
    conn.commit()
    log.info("champion decision for %s/%s: %s", challenger.run_id, challenger.model, decision.reason)
    return decision
