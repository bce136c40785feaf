"""Analytics (Task II): averages, class histogram and top flags of ``mqtt.packets``.

Every answer comes from one small *cube*: a single Spark aggregation of the packets by
(split, target, tcp_flags, mqtt_hdrflags) with the packet count and the sums of
``mqtt_len`` and ``tcp_len``. A few hundred cells at most, whatever the number of packets,
so the data is read once and each table below is a cheap derivation of the cached cube,
never one query per distinct value. A split ``all`` (train + test) is added to the cube
before deriving, so every table has it with no special case.

The packets are read with Spark's JDBC reader, only the needed columns, in parallel: one
partition per split and ``part_no`` bucket (``part_no`` is the Spark partition that loaded
the row, so buckets are even). Results are small and written from the driver in one
PostgreSQL transaction that replaces the rows of the run id: a rerun never duplicates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date

from psycopg2.extras import execute_values
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mqttids.runtime import db
from mqttids.schema import SPLITS
from mqttids.warehouse import tables
from mqttids.warehouse.batches import FETCH_SIZE, BatchRange, NoPackets, check_input, predicates

log = logging.getLogger(__name__)

ALL = "all"  # the split name for train + test together
SPLIT_ORDER: tuple[str, ...] = (*SPLITS, ALL)
CUBE_KEYS: tuple[str, ...] = ("split", "target", "tcp_flags", "mqtt_hdrflags")
READ_COLUMNS: tuple[str, ...] = ("batch_date", *CUBE_KEYS, "mqtt_len", "tcp_len")


# ---------------------------------------------------------------------------------------
# Output tables (created by the warehouse migrations): the computed columns of each, in order.
# Every row also carries run_id, batch_from and batch_to, and computed_at (a default).
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Output:
    """One result table and the columns a run computes for it, in table order."""

    name: str
    column_names: tuple[str, ...]


AVG_MQTT_LEN = Output(f"{tables.SCHEMA}.avg_mqtt_len", ("split", "packets", "avg_mqtt_len"))
AVG_TCP_LEN = Output(f"{tables.SCHEMA}.avg_tcp_len_by_target", ("split", "target", "packets", "avg_tcp_len"))
TOP_TCP_FLAGS = Output(
    f"{tables.SCHEMA}.top_tcp_flags", ("split", "top_x", "rank", "tcp_flags", "tcp_flags_hex", "packets")
)
CLASS_HISTOGRAM = Output(f"{tables.SCHEMA}.class_histogram", ("split", "target", "packets", "share"))
TOP_HDRFLAGS = Output(
    f"{tables.SCHEMA}.top_hdrflags_by_target",
    ("split", "target", "mqtt_hdrflags", "mqtt_hdrflags_hex", "packets", "share"),
)
OUTPUTS: tuple[Output, ...] = (AVG_MQTT_LEN, AVG_TCP_LEN, TOP_TCP_FLAGS, CLASS_HISTOGRAM, TOP_HDRFLAGS)


# ---------------------------------------------------------------------------------------
# Checks.
# ---------------------------------------------------------------------------------------
def check_top_x(top_x: int) -> int:
    """``top_x`` itself, or a ValueError saying what is wrong with it."""
    if isinstance(top_x, bool) or not isinstance(top_x, int) or top_x < 1:
        raise ValueError(f"top X must be a positive integer (1, 2, ...), got {top_x!r}")
    return top_x


def check_run_id(run_id: str) -> str:
    """``run_id`` itself, or a ValueError: an empty id would mix every anonymous run."""
    if not run_id or not run_id.strip():
        raise ValueError("run id must be a non-empty string")
    return run_id


# ---------------------------------------------------------------------------------------
# Spark: read, cube, derive.
# ---------------------------------------------------------------------------------------
def read_packets(spark: SparkSession, url: str, batches: BatchRange) -> DataFrame:
    """The columns the cube needs, read in parallel from PostgreSQL."""
    target = db.DbUrl.parse(url)
    buckets = max(1, spark.sparkContext.defaultParallelism // len(SPLITS))
    properties = target.jdbc_properties | {"fetchsize": FETCH_SIZE}
    return spark.read.jdbc(
        target.jdbc_url, tables.PACKETS, predicates=predicates(batches, buckets), properties=properties
    ).select(*READ_COLUMNS)


def cube(packets: DataFrame) -> DataFrame:
    """The one pass over the data: counts and length sums per split, target and flags."""
    return packets.groupBy(*CUBE_KEYS).agg(
        F.count(F.lit(1)).alias("packets"),
        F.sum("mqtt_len").alias("mqtt_len_sum"),
        F.sum("tcp_len").alias("tcp_len_sum"),
        F.min("batch_date").alias("batch_from"),
        F.max("batch_date").alias("batch_to"),
    )


def _total(cells: DataFrame, keys: list[str]) -> DataFrame:
    """Packets and length sums of the cube cells grouped by ``keys``."""
    return cells.groupBy(*keys).agg(
        F.sum("packets").alias("packets"),
        F.sum("mqtt_len_sum").alias("mqtt_len_sum"),
        F.sum("tcp_len_sum").alias("tcp_len_sum"),
    )


def with_all_split(cells: DataFrame) -> DataFrame:
    """The cube plus its cells summed over splits under split ``all``, in one partition.

    The cube is tiny, and one partition satisfies every grouping, so the derivations need
    no shuffle of their own.
    """
    merged = _total(cells, [k for k in CUBE_KEYS if k != "split"])
    per_split = cells.drop("batch_from", "batch_to")
    return per_split.unionByName(merged.withColumn("split", F.lit(ALL))).coalesce(1)


def _hex(column: str) -> Column:
    """schema.canonical_hex in Spark: lower case, at least two digits."""
    return F.format_string("0x%02x", F.col(column)).alias(f"{column}_hex")


def _ranked(counts: DataFrame, group: list[str]) -> DataFrame:
    """``counts`` with rank() by packets within ``group``: ties share a rank."""
    return counts.withColumn("rank", F.rank().over(Window.partitionBy(*group).orderBy(F.desc("packets"))))


def _share(group: list[str]) -> Column:
    """Packets as a fraction of the packets of their ``group``."""
    return F.col("packets") / F.sum("packets").over(Window.partitionBy(*group))


def derive(cells: DataFrame, top_x: int) -> dict[Output, DataFrame]:
    """Every output table from the cube (with its ``all`` split), columns in table order."""
    per_split = _total(cells, ["split"])
    per_target = _total(cells, ["split", "target"])
    flags = _ranked(_total(cells, ["split", "tcp_flags"]), ["split"])
    hdrflags = _ranked(_total(cells, ["split", "target", "mqtt_hdrflags"]), ["split", "target"])
    return {
        AVG_MQTT_LEN: per_split.select(
            "split", "packets", (F.col("mqtt_len_sum") / F.col("packets")).alias("avg_mqtt_len")
        ),
        AVG_TCP_LEN: per_target.select(
            "split", "target", "packets", (F.col("tcp_len_sum") / F.col("packets")).alias("avg_tcp_len")
        ),
        TOP_TCP_FLAGS: flags.where(F.col("rank") <= top_x).select(
            "split", F.lit(top_x).alias("top_x"), "rank", "tcp_flags", _hex("tcp_flags"), "packets"
        ),
        CLASS_HISTOGRAM: per_target.select("split", "target", "packets", _share(["split"]).alias("share")),
        TOP_HDRFLAGS: hdrflags.withColumn("share", _share(["split", "target"]))
        .where(F.col("rank") == 1)
        .select("split", "target", "mqtt_hdrflags", _hex("mqtt_hdrflags"), "packets", "share"),
    }


@dataclass
class Results:
    """What one run computed: the batch dates read and the rows of every output table."""

    run_id: str
    batch_from: date
    batch_to: date
    rows: dict[Output, list[tuple]] = field(default_factory=dict)
    seconds: float = 0.0


def cached_cube(spark: SparkSession, url: str, batches: BatchRange) -> DataFrame:
    """The cube of ``batches``, cached in one partition: the only read of the packets.

    One partition because the cube is tiny: hundreds of partitions of a few cells each
    (spark.sql.shuffle.partitions) made every derivation schedule hundreds of tasks.
    """
    return cube(read_packets(spark, url, batches)).coalesce(1).cache()


def compute(spark: SparkSession, url: str, run_id: str, top_x: int, batches: BatchRange) -> Results:
    """Read the packets once into the cube and collect every output's rows."""
    cells = cached_cube(spark, url, batches)
    try:
        first, last = cells.agg(F.min("batch_from"), F.max("batch_to")).first()
        if first is None:  # the batches were emptied since check_input
            raise NoPackets(f"no packets in {tables.PACKETS} for {batches}")
        results = Results(run_id, first, last)
        for out, frame in derive(with_all_split(cells), top_x).items():
            results.rows[out] = [tuple(row) for row in frame.collect()]
    finally:
        cells.unpersist()
    total = next(packets for split, packets, _ in results.rows[AVG_MQTT_LEN] if split == ALL)
    log.info("read %s packets of batches %s to %s", f"{total:,}", first, last)
    return results


# ---------------------------------------------------------------------------------------
# PostgreSQL: write and summarise.
# ---------------------------------------------------------------------------------------
def write(conn, results: Results) -> None:
    """Replace the run's rows in every output table, atomically."""
    stamp = (results.run_id, results.batch_from, results.batch_to)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('mqttids.analytics'))")
        for out in OUTPUTS:
            cur.execute(f"DELETE FROM {out.name} WHERE run_id = %s", (results.run_id,))
            columns = ", ".join(("run_id", "batch_from", "batch_to", *out.column_names))
            execute_values(
                cur,
                f"INSERT INTO {out.name} ({columns}) VALUES %s",
                [stamp + row for row in results.rows[out]],
            )
    conn.commit()


def run(
    spark: SparkSession, url: str, run_id: str, top_x: int = 5, batches: BatchRange = BatchRange()
) -> Results:
    """Compute and store the analytics of ``batches`` under ``run_id``, replacing an earlier run."""
    check_run_id(run_id)
    check_top_x(top_x)
    started = time.monotonic()
    check_input(url, batches)
    log.info("analytics run %s: reading %s from %s", run_id, batches, db.DbUrl.parse(url))
    results = compute(spark, url, run_id, top_x, batches)
    conn = db.connect(url, application="mqttids-analytics")
    try:
        write(conn, results)
    finally:
        conn.close()
    results.seconds = time.monotonic() - started
    log.info("analytics run %s stored in %.1f s", run_id, results.seconds)
    return results


def _fetch(cur, out: Output, columns: str, run_id: str) -> list[tuple]:
    """The run's rows of ``out``."""
    cur.execute(f"SELECT {columns} FROM {out.name} WHERE run_id = %s", (run_id,))
    return cur.fetchall()


def _split_key(split: str) -> int:
    return SPLIT_ORDER.index(split)


def latest_run_id(conn, batch_date: str) -> str | None:
    """The most recent analytics run over exactly this one batch, if any."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT run_id FROM {AVG_MQTT_LEN.name} WHERE batch_from = %s AND batch_to = %s "
            "ORDER BY computed_at DESC LIMIT 1",
            (batch_date, batch_date),
        )
        row = cur.fetchone()
    return row[0] if row else None


def summary(conn, run_id: str) -> str:
    """The Task II answers of a stored run, as a short text for people (``make run`` prints it).

    Rendered from the tables, not from memory, so the pipeline can show any past run.
    """
    with conn.cursor() as cur:
        columns = "split, packets, avg_mqtt_len, batch_from, batch_to, computed_at"
        lens = _fetch(cur, AVG_MQTT_LEN, columns, run_id)
        if not lens:
            raise LookupError(f"no analytics stored for run id {run_id!r}")
        tcp = _fetch(cur, AVG_TCP_LEN, "split, target, packets, avg_tcp_len", run_id)
        flags = _fetch(cur, TOP_TCP_FLAGS, "split, top_x, rank, tcp_flags_hex, packets", run_id)
    lens.sort(key=lambda r: _split_key(r[0]))
    _, _, _, first, last, computed_at = lens[0]
    lines = [
        f"Analytics run {run_id}: batches {first} to {last}, "
        f"computed {computed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        "",
        "Average mqtt.len per split",
        f"  {'split':<6}{'packets':>12}{'mqtt.len':>12}",
        *(f"  {split:<6}{packets:>12,}{avg:>12.4f}" for split, packets, avg, *_ in lens),
        "",
        *_tcp_len_lines(tcp),
        "",
        *_flag_lines(flags),
    ]
    return "\n".join(lines)


def _tcp_len_lines(rows: list[tuple]) -> list[str]:
    """Average tcp.len as a target x split grid, biggest class first."""
    splits = sorted({split for split, *_ in rows}, key=_split_key)
    avg = {(split, target): value for split, target, _, value in rows}
    size: dict[str, int] = {}
    for _, target, packets, _ in rows:
        size[target] = size.get(target, 0) + packets
    targets = sorted(size, key=lambda t: (-size[t], t))
    lines = ["Average tcp.len per target", f"  {'target':<12}" + "".join(f"{s:>12}" for s in splits)]
    for target in targets:
        cells = (f"{avg[s, target]:>12.4f}" if (s, target) in avg else f"{'-':>12}" for s in splits)
        lines.append(f"  {target:<12}" + "".join(cells))
    return lines


def _flag_lines(rows: list[tuple]) -> list[str]:
    """Top-X tcp.flags, one line per split: rank, flag and packets, ties side by side."""
    top_x = rows[0][1]
    lines = [f"Top {top_x} tcp.flags per split (rank. flag packets; ties at rank {top_x} kept)"]
    for split in sorted({r[0] for r in rows}, key=_split_key):
        ranked = sorted((rank, hex_, packets) for s, _, rank, hex_, packets in rows if s == split)
        lines.append(
            f"  {split:<6}" + "   ".join(f"{rank}. {hex_} {packets:,}" for rank, hex_, packets in ranked)
        )
    return lines
