"""Champion/challenger: the served model changes only for a better one.

The champion is the ``@champion`` alias of the registered MLflow model
(``models:/mqtt_ids_packet@champion`` is what scoring loads). After a learning
run registers its models, its best version (by test macro F1) challenges it,
and the alias moves only if the challenger's macro F1 is strictly higher *on
the same test data*: when the champion was scored on other test rows (its
fingerprint differs), the caller re-scores it on this run's rows first.

Registered versions are immutable, so a rerun of the champion's own run is a
new version and must beat the champion like any other challenger; it never
overwrites the champion's files.

MLflow keeps no history of alias moves, so every decision, promoted or
refused, is stored with its reason in ``mqtt.champion_decisions``: a scheduled
or UI-triggered retraining never silently replaces a better model. The table
comes from the warehouse migrations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from mqttids.learning import tracking
from mqttids.warehouse.tables import CHAMPION_DECISIONS as DECISIONS

log = logging.getLogger(__name__)


class ChampionFilesMissing(RuntimeError):
    """The champion version's model files are gone: it cannot be re-scored."""


@dataclass(frozen=True)
class Contender:
    """A registered model version and its macro F1 on a given test set."""

    run_id: str
    model: str
    macro_f1: float
    test_fingerprint: str
    version: str
    kind: str = ""
    level: str = "packet"


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    champion: Contender | None  # the champion before the decision, scored on the challenger's test data


def current(client, name: str) -> Contender | None:
    """The version ``@champion`` points at, with the scores it was promoted with."""
    version = tracking.champion_version(client, name)
    if version is None:
        return None
    tags = version.tags
    return Contender(
        run_id=tags.get(tracking.TAG_RUN, ""),
        model=tags.get(tracking.TAG_MODEL, ""),
        macro_f1=float(tags.get(tracking.TAG_F1, "nan")),
        test_fingerprint=tags.get(tracking.TAG_FINGERPRINT, ""),
        version=str(version.version),
        kind=tags.get(tracking.TAG_KIND, ""),
    )


def decide(challenger: Contender, champion: Contender | None) -> Decision:
    """Promote only a strictly better macro F1 on the same test data."""
    if champion is None:
        return Decision(True, "no champion yet", None)
    if champion.version == challenger.version:
        return Decision(False, f"version {challenger.version} is already the champion", champion)
    if champion.test_fingerprint != challenger.test_fingerprint:
        raise ValueError("champion and challenger were scored on different test data")
    if challenger.macro_f1 > champion.macro_f1:
        return Decision(
            True,
            f"macro F1 {challenger.macro_f1:.4f} beats the champion's {champion.macro_f1:.4f} "
            f"(version {champion.version}) on the same test data",
            champion,
        )
    return Decision(
        False,
        f"macro F1 {challenger.macro_f1:.4f} does not beat the champion's {champion.macro_f1:.4f} "
        f"(version {champion.version}, {champion.run_id}/{champion.model}) on the same test data",
        champion,
    )


def _record(cur, name: str, challenger: Contender, decision: Decision) -> None:
    holder = decision.champion
    cur.execute(
        f"INSERT INTO {DECISIONS} (slot, level, run_id, model, challenger_version, challenger_macro_f1, "
        "champion_run_id, champion_model, champion_version, champion_macro_f1, promoted, reason) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            name,
            challenger.level,
            challenger.run_id,
            challenger.model,
            challenger.version,
            challenger.macro_f1,
            holder and holder.run_id,
            holder and holder.model,
            holder and holder.version,
            holder and holder.macro_f1,
            decision.promoted,
            decision.reason,
        ),
    )


def _rescored(holder: Contender, challenger: Contender, rescore: Callable[[Contender], float]) -> Decision:
    """The decision after re-scoring the champion on the challenger's test rows.

    Missing files keep the champion, with that reason. Any other failure is not a
    verdict on the models: it propagates (the caller records it and fails the task).
    """
    log.info("champion version %s was scored on other test rows: re-scoring it", holder.version)
    try:
        score = rescore(holder)
    except ChampionFilesMissing as err:
        return Decision(
            False,
            f"champion version {holder.version} could not be re-scored: its files are gone ({err}); kept",
            holder,
        )
    return decide(challenger, replace(holder, macro_f1=score, test_fingerprint=challenger.test_fingerprint))


def challenge(
    conn, client, name: str, challenger: Contender, rescore: Callable[[Contender], float]
) -> Decision:
    """Decide, move the alias if promoted, and store the decision; one decision at a time (a lock).

    ``rescore`` gives the champion's macro F1 on the challenger's test rows; it is
    called only when the champion was scored on different rows.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"mqttids.champion.{name}",))
        holder = current(client, name)
        if (
            holder
            and holder.test_fingerprint != challenger.test_fingerprint
            and holder.version != challenger.version
        ):
            try:
                decision = _rescored(holder, challenger, rescore)
            except Exception as err:
                failed = Decision(
                    False,
                    f"re-scoring champion version {holder.version} failed ({type(err).__name__}: {err}); "
                    "kept, and the evaluation failed",
                    holder,
                )
                _record(cur, name, challenger, failed)
                conn.commit()
                raise
        else:
            decision = decide(challenger, holder)
        if decision.promoted:
            for key, value in {
                tracking.TAG_F1: repr(float(challenger.macro_f1)),
                tracking.TAG_FINGERPRINT: challenger.test_fingerprint,
            }.items():
                client.set_model_version_tag(name, challenger.version, key, value)
            client.set_registered_model_alias(name, tracking.CHAMPION_ALIAS, challenger.version)
        _record(cur, name, challenger, decision)
    conn.commit()
    log.info("champion decision for %s version %s: %s", name, challenger.version, decision.reason)
    return decision
