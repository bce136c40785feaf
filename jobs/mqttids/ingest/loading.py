"""Loading one batch of MQTTset files into ``mqtt.packets``, atomically.

The steps, and why:

1. Spark reads every source as text lines; its tasks parse them with Arrow
   (:mod:`parsing`, derived from the schema); each row is either a typed
   packet or a rejected line with its reason. Nothing is dropped: read =
   loaded + rejected.
2. The same tasks COPY both kinds into two fresh staging tables (:mod:`copy_sink`).
3. The staging tables are counted per split and target and compared with
   what the tasks say they sent, and per file with the lines Spark counts
   in the input on its own (every line, less headers and blank lines), so
   a row lost anywhere between the file and the table is caught. A mismatch
   aborts before anything is published.
4. One short transaction swaps the staging table in as the batch's
   partition and replaces the batch's rejected rows. Readers see the old
   batch or the new one, never a mix; a rerun replaces, never duplicates.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from mqttids.capture import spark_convert
from mqttids.capture.fields import MQTT_PORT
from mqttids.ingest import sources
from mqttids.ingest.copy_sink import PREPARED, REJECTED_COLUMNS, RESULT_SCHEMA, copy_writer
from mqttids.ingest.parsing import parse, parse_lines
from mqttids.ingest.sources import Source
from mqttids.runtime import db, hadoop_files
from mqttids.schema import Header, read_header
from mqttids.warehouse import tables

log = logging.getLogger(__name__)

CONNECTION_NAMES = tables.CONNECTION_COLUMNS
ARROW_BATCH_ROWS = 50_000  # lines per Arrow batch that a task parses and COPYs at once
TEST_SHARE = 0.3  # split_by=connection: the share of connections in test, as the authors' 70/30


class ReadBackMismatch(RuntimeError):
    """The staged rows differ from what Spark read: nothing was published."""


class LoadInProgress(RuntimeError):
    """Another load of the same batch date is running: this one would destroy its staging tables."""


# Staging table names: packets_load_<YYYYMMDD>_<8 hex> and rejected_load_<YYYYMMDD>_<8 hex>.
STAGING_PATTERN = r"^(packets|rejected)_load_([0-9]{8})_[0-9a-f]{8}$"


@dataclass
class LoadResult:
    """What one load read, stored and rejected."""

    batch_date: date
    loaded: Counter = field(default_factory=Counter)  # (split, target) -> rows
    rejected: Counter = field(default_factory=Counter)  # split -> rows
    read: Counter = field(default_factory=Counter)  # (split, file) -> data lines in the input
    seconds: float = 0.0
    converted: list[spark_convert.Converted] = field(default_factory=list)  # the batch's captures

    @property
    def truncated(self) -> list[str]:
        """Captures cut short: their packets before the cut are loaded."""
        return [c.source_file for c in self.converted if c.truncated]

    @property
    def rows_loaded(self) -> int:
        return sum(self.loaded.values())

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def rows_read(self) -> int:
        """Data lines in the input files, as Spark counted them apart from the load."""
        return sum(self.read.values())


def _lines(spark: SparkSession, files: list[str]) -> DataFrame:
    """Every line of the files (``raw``), with the file it came from (``source_file``)."""
    # Spark names files by percent-encoded URI; store the names the user gave instead.
    plain = F.create_map(*[F.lit(x) for f in files for x in (hadoop_files.file_uri(spark, f), f)])
    path = F.col("_metadata.file_path")
    # Invalid UTF-8 bytes become U+FFFD, which PostgreSQL can store (in quarantine).
    return spark.read.text(files).select(
        F.make_valid_utf8("value").alias("raw"), F.coalesce(plain[path], path).alias("source_file")
    )


def _not_data(raw: F.Column, headers: set[str]) -> F.Column:
    """Header and empty lines: the only lines that are neither loaded nor rejected.

    Hadoop's line reader already ends lines at LF, CR or CRLF, and decompresses ``.gz`` and
    ``.bz2`` files by their names. Plain string tests are used here rather than regular
    expressions: on 1M rows the difference is a second of CPU.
    """
    return raw.isin(*sorted(headers | {"\ufeff" + h for h in headers})) | (raw == "")


def _read_lines(spark: SparkSession, split: str, files: list[str], headers: set[str]) -> DataFrame:
    """The files' lines, without their header lines and empty lines."""
    lines = _lines(spark, files)
    return lines.where(~_not_data(F.col("raw"), headers)).withColumn("split", F.lit(split))


def count_read(spark: SparkSession, splits: list[Source], capture_lines: DataFrame | None = None) -> Counter:
    """Data lines per (split, file), counted by a Spark job of its own over the input.

    The load's own totals only say what its tasks sent; this count says what the files hold
    (every line Spark reads, less headers and empty lines; for a capture, the lines of its tshark
    export), so a row dropped between the file and the staging table shows as a difference
    instead of vanishing from both sides.
    """
    read: Counter = Counter()
    for source in splits:
        csvs = [f for f in source.inputs if f.kind == sources.CSV]
        if not csvs:
            continue
        paths = [f.path for f in csvs]
        headers = {f.header_line for f in csvs}
        # Grouped by Spark's file URI and compared as read: no per-line repair or renaming.
        raw = F.col("value")
        raw = F.make_valid_utf8(raw) if any("\ufffd" in h for h in headers) else raw
        per_file = (
            spark.read.text(paths)
            .groupBy(F.col("_metadata.file_path").alias("uri"))
            .agg(F.count(F.lit(1)).alias("lines"), F.sum(_not_data(raw, headers).cast("long")).alias("other"))
        )
        names = {hadoop_files.file_uri(spark, f): f for f in paths}
        read.update(
            {(source.split, names.get(uri, uri)): total - other for uri, total, other in per_file.collect()}
        )
    if capture_lines is not None:
        per_capture = capture_lines.groupBy("split", "source_file").count().collect()
        read.update({(split, file): n for split, file, n in per_capture})
    return read


def _read_split(spark: SparkSession, source: Source) -> DataFrame:
    """All CSV lines of one split (what bench/ingest reads too)."""
    csvs = [f for f in source.inputs if f.kind == sources.CSV]
    return _read_lines(spark, source.split, [f.path for f in csvs], {f.header_line for f in csvs})


def _lookup(pairs: dict[str, object], key: F.Column) -> F.Column:
    """``pairs[key]`` as a Spark map lookup (null for a key not in it, or an empty map)."""
    if not pairs:
        return F.lit(None)
    return F.create_map(*[F.lit(x) for k, v in pairs.items() for x in (k, v)])[key]


@dataclass(frozen=True)
class Rows:
    """Rows for the COPY job: a DataFrame, and how its tasks turn a batch into typed rows."""

    frame: DataFrame
    prepare: Callable[[pa.RecordBatch], pa.Table]
    day: str  # the batch date (ISO), written into every row


def _lines_prepare(header: Header, labels: dict[str, str]) -> Callable[[pa.RecordBatch], pa.Table]:
    """Parse a batch of ``split, source_file, raw`` lines in the task, with each file's label."""
    fill_empty = not header.labelled  # tshark's empty cells, as the authors' fillna(0) read them

    def prepare(batch: pa.RecordBatch) -> pa.Table:
        parsed = parse_lines(batch.column("raw"), header, fill_empty)
        if not header.labelled:
            files = pc.dictionary_encode(batch.column("source_file"))
            named = pa.array([labels.get(f) for f in files.dictionary.to_pylist()], pa.string())
            parsed = parsed.set_column(
                parsed.schema.get_field_index("target"), "target", pc.take(named, files.indices)
            )
        n = len(batch)
        extra = {
            "split": batch.column("split"),
            "source_file": batch.column("source_file"),
            "raw": batch.column("raw"),
        }
        extra |= {
            n_: pa.nulls(n, t)
            for n_, t in zip(CONNECTION_NAMES, (pa.int64(), pa.string(), pa.int32()), strict=True)
        }
        return pa.table({name: extra[name] if name in extra else parsed.column(name) for name in PREPARED})

    return prepare


def _typed_prepare(batch: pa.RecordBatch) -> pa.Table:
    """Rows Spark already parsed (and gave connection columns): nothing left to do."""
    return pa.Table.from_batches([batch]).select(list(PREPARED))


def _connections(parsed: DataFrame, file_numbers: dict[str, int]) -> DataFrame:
    """connection_id, capture_time and connection_seq from tcp.stream, frame.number and time.

    The id is ``file number * 2**32 + tcp.stream``, the file number being the file's position
    in the batch's ``sources`` (mqtt.ingest_batches): unique within the batch, because
    tcp.stream numbers the connections of one file, and ports alone are reused.
    """
    stream = F.col("tcp_stream")
    connection = Window.partitionBy("source_file", "tcp_stream").orderBy("frame_number")
    file_no = _lookup(file_numbers, F.col("source_file")).cast("long")
    return parsed.select(
        "*",
        F.when(stream.isNotNull(), file_no * (1 << 32) + stream).alias("connection_id"),
        F.date_format(F.timestamp_seconds("frame_time_epoch"), "yyyy-MM-dd HH:mm:ss.SSSSSSXXX").alias(
            "capture_time"
        ),
        F.when(stream.isNotNull(), F.row_number().over(connection)).alias("connection_seq"),
    )


def _split_by_connection(frame: DataFrame) -> DataFrame:
    """Train or test by a hash of the connection id: no connection is on both sides."""
    test = F.pmod(F.xxhash64("connection_id"), F.lit(100)) < int(TEST_SHARE * 100)
    return frame.withColumn(
        "split", F.when(F.col("connection_id").isNull(), F.col("split")).when(test, "test").otherwise("train")
    )


def prepare_rows(
    spark: SparkSession,
    srcs: list[Source],
    batch_date: date,
    capture_lines: DataFrame | None = None,
    split_by: str | None = None,
) -> list[Rows]:
    """Every line of the batch, grouped by header (captures: tshark's), ready for the COPY job.

    Lines of files without connection fields (the train/test CSVs) go to the tasks as they are
    and are parsed there. Lines with them are parsed by Spark first, because a connection's
    ``connection_seq`` needs all its packets (a window over the batch).
    ``capture_lines`` are the tshark exports of the batch's captures (:mod:`mqttids.capture.spark_convert`).
    """
    files = [f for s in srcs for f in s.inputs]
    file_numbers = {f.path: i for i, f in enumerate(files)}
    labels = {f.path: f.label for f in files if f.label is not None}
    by_header: dict[str, list[tuple[str, str]]] = {}
    for source in srcs:
        for f in source.inputs:
            if f.kind == sources.CSV:
                by_header.setdefault(f.header_line, []).append((source.split, f.path))
    groups = []
    for line, members in by_header.items():
        splits = sorted({split for split, _ in members})
        raw = functools.reduce(
            DataFrame.unionByName,
            [_read_lines(spark, sp, [p for s, p in members if s == sp], {line}) for sp in splits],
        )
        groups.append((raw, read_header(line)))
    if capture_lines is not None:
        groups.append((capture_lines.select("split", "source_file", "raw"), sources.TSHARK_HEADER))
    rows = []
    for raw, header in groups:
        if not header.has_connections:
            rows.append(Rows(raw, _lines_prepare(header, labels), batch_date.isoformat()))
            continue
        frame = raw.withColumn("label", _lookup(labels, F.col("source_file")))
        keep = ["split", "source_file", "label"]
        frame = _connections(parse(frame, "raw", keep, header, "label", not header.labelled), file_numbers)
        if split_by == "connection":
            frame = _split_by_connection(frame)
        rows.append(Rows(frame.select(*PREPARED), _typed_prepare, batch_date.isoformat()))
    return rows


def _staging_names(batch_date: date) -> tuple[str, str]:
    token = f"{batch_date:%Y%m%d}_{uuid.uuid4().hex[:8]}"
    return f"{tables.SCHEMA}.packets_load_{token}", f"{tables.SCHEMA}.rejected_load_{token}"


def _partition_name(batch_date: date) -> str:
    return f"packets_{batch_date:%Y%m%d}"


def _batch_lock(batch_date: date) -> tuple[str, int]:
    return "SELECT pg_try_advisory_lock(hashtext('mqttids.load'), %s)", int(f"{batch_date:%Y%m%d}")


def lock_batch(conn, batch_date: date) -> None:
    """Hold the batch date's load lock for the connection's life, or raise LoadInProgress.

    A session lock, so it outlives commits and dies with the process: a killed load leaves its
    staging tables but not its lock, which is how :func:`_drop_leftovers` tells the two apart.
    """
    sql, key = _batch_lock(batch_date)
    with conn.cursor() as cur:
        cur.execute(sql, (key,))
        held = cur.fetchone()[0]
    conn.commit()
    if not held:
        raise LoadInProgress(f"another load of batch {batch_date} is running; try again when it has finished")


def _drop_leftovers(cur, batch_date: date) -> None:
    """Drop the staging tables of killed loads: this batch's, and other dates' nobody is loading.

    The caller holds this batch's lock. Another date's tables are dropped only while its lock can
    be taken here, so a load that is running keeps its tables.
    """
    cur.execute(
        "SELECT tablename, substring(tablename FROM %s) FROM pg_tables WHERE schemaname = %s "
        "AND tablename ~ %s ORDER BY 1",
        (r"_load_([0-9]{8})_", tables.SCHEMA, STAGING_PATTERN),
    )
    by_day: dict[str, list[str]] = {}
    for name, day in cur.fetchall():
        by_day.setdefault(day, []).append(name)
    sql, _ = _batch_lock(batch_date)
    for day, names in by_day.items():
        own = day == f"{batch_date:%Y%m%d}"
        if not own:
            cur.execute(sql, (int(day),))
            if not cur.fetchone()[0]:
                continue  # a load of that date is running
        for name in names:
            log.info("dropping staging table %s.%s, left by a load that did not finish", tables.SCHEMA, name)
            cur.execute(f"DROP TABLE IF EXISTS {tables.SCHEMA}.{name}")
        if not own:
            cur.execute("SELECT pg_advisory_unlock(hashtext('mqttids.load'), %s)", (int(day),))


def create_staging(conn, batch_date: date) -> tuple[str, str]:
    """Fresh staging tables shaped like the targets, with the batch's partition check."""
    packets, rejected = _staging_names(batch_date)
    with conn.cursor() as cur:
        _drop_leftovers(cur, batch_date)
        cur.execute(
            f"CREATE TABLE {packets} (LIKE {tables.PACKETS} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        # Lets ATTACH PARTITION skip its validation scan.
        cur.execute(f"ALTER TABLE {packets} ADD CONSTRAINT batch_only CHECK (batch_date = %s)", (batch_date,))
        cur.execute(f"CREATE TABLE {rejected} (LIKE {tables.REJECTED} INCLUDING DEFAULTS)")
    conn.commit()
    return packets, rejected


def _copy_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"


def copy_rows(rows: list[Rows], url: str, packets: str, rejected: str) -> LoadResult:
    """Run the Spark job that parses (where Spark has not) and COPYs every row; return what the tasks sent."""
    connect = functools.partial(db.connect, url, application="mqttids-ingest")
    packets_sql = _copy_sql(packets, tables.PACKET_COLUMNS)
    rejected_sql = _copy_sql(rejected, REJECTED_COLUMNS)
    sent = functools.reduce(
        DataFrame.unionByName,
        [
            r.frame.mapInArrow(
                copy_writer(connect, packets_sql, rejected_sql, r.day, r.prepare),
                RESULT_SCHEMA,
            )
            for r in rows
        ],
    )
    result = LoadResult(batch_date=date.min)
    for ok, split, target, count in sent.groupBy("ok", "split", "target").sum("rows").collect():
        if ok:
            result.loaded[(split, target)] += count
        else:
            result.rejected[split] += count
    return result


def verify_staged(conn, packets: str, rejected: str, sent: LoadResult) -> None:
    """Compare the staging tables with what the tasks reported sending, and each file with its lines."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT split, coalesce(target, ''), count(*) FROM {packets} GROUP BY 1, 2")
        stored = Counter({(s, t): n for s, t, n in cur.fetchall()})
        cur.execute(f"SELECT split, count(*) FROM {rejected} GROUP BY 1")
        stored_rejected = Counter(dict(cur.fetchall()))
        cur.execute(
            f"SELECT source_file, count(*) FROM (SELECT source_file FROM {packets} "
            f"UNION ALL SELECT source_file FROM {rejected}) staged GROUP BY 1"
        )
        per_file = Counter(dict(cur.fetchall()))
    read = Counter()  # per file: split_by may file a file's rows under both splits
    for (_, file), n in sent.read.items():
        read[file] += n
    if stored != sent.loaded or stored_rejected != sent.rejected:
        raise ReadBackMismatch(
            f"read-back check failed, batch not published: sent {dict(sent.loaded)} "
            f"rejected {dict(sent.rejected)}, staged {dict(stored)} rejected {dict(stored_rejected)}"
        )
    if per_file != read:
        detail = "; ".join(
            f"{file}: {read[file]:,} data lines read, {per_file[file]:,} staged"
            for file in sorted(set(per_file) | set(read))
            if per_file[file] != read[file]
        )
        raise ReadBackMismatch(
            f"read-back check failed, batch not published: rows were lost or added between the files "
            f"and the staging tables ({detail})"
        )


def publish(conn, packets: str, rejected: str, result: LoadResult, sources: list[Source]) -> None:
    """Swap the staged batch in, replacing any earlier load of the same date, in one transaction."""
    day = result.batch_date
    partition = f"{tables.SCHEMA}.{_partition_name(day)}"
    with conn.cursor() as cur:
        cur.execute("SET LOCAL lock_timeout = '120s'")
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('mqttids.publish'))")
        cur.execute(f"DROP TABLE IF EXISTS {partition}")
        cur.execute(f"ALTER TABLE {packets} RENAME TO {_partition_name(day)}")
        cur.execute(f"ALTER TABLE {tables.PACKETS} ATTACH PARTITION {partition} FOR VALUES IN (%s)", (day,))
        cur.execute(f"ALTER TABLE {partition} DROP CONSTRAINT batch_only")
        cur.execute(f"DELETE FROM {tables.REJECTED} WHERE batch_date = %s", (day,))
        cur.execute(f"INSERT INTO {tables.REJECTED} SELECT * FROM {rejected}")
        cur.execute(f"DROP TABLE {rejected}")
        cur.execute(
            f"INSERT INTO {tables.BATCHES} AS b (batch_date, sources, rows_read, rows_loaded, "
            "rows_rejected, seconds, truncated_files) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (batch_date) DO "
            "UPDATE SET sources = EXCLUDED.sources, rows_read = EXCLUDED.rows_read, "
            "rows_loaded = EXCLUDED.rows_loaded, rows_rejected = EXCLUDED.rows_rejected, "
            "seconds = EXCLUDED.seconds, truncated_files = EXCLUDED.truncated_files, loaded_at = now()",
            (
                day,
                [f for s in sources for f in s.files],
                result.rows_read,
                result.rows_loaded,
                result.rows_rejected,
                result.seconds,
                result.truncated,
            ),
        )
    conn.commit()


def _convert_captures(
    spark: SparkSession, srcs: list[Source], mqtt_ports: list[int]
) -> spark_convert.Batch | None:
    """The tshark exports of the batch's captures (None without captures), logged."""
    ports = sources.mqtt_ports(spark, srcs, mqtt_ports)
    wanted = [(s.split, f.path, ports[f.path]) for s in srcs for f in s.inputs if f.kind == sources.CAPTURE]
    if not wanted:
        return None
    log.info(
        "converting %d captures with tshark (MQTT on TCP ports %s)",
        len(wanted),
        sorted({p for _, _, ps in wanted for p in ps}),
    )
    batch = spark_convert.convert(spark, wanted)
    batch.lines = batch.lines.withColumnRenamed("tag", "split")  # ingest tags a capture with its split
    for c in batch.files:
        log.info("%s: %d packets in %.1f s", c.source_file, c.packets, c.seconds)
        if c.truncated:
            log.warning(
                "%s is truncated: its %d packets before the cut are loaded (%s)",
                c.source_file,
                c.packets,
                c.stderr,
            )
    return batch


def load_batch(
    spark: SparkSession,
    sources: list[Source],
    url: str,
    batch_date: date,
    mqtt_ports: list[int] | None = None,
    split_by: str | None = None,
) -> LoadResult:
    """Load the sources as batch ``batch_date``, replacing an earlier load of it.

    Captures are converted first (``mqtt_ports``: the broker ports to decode as MQTT, beside
    those of a ``corpus.json`` next to the captures); ``split_by="connection"`` files each
    connection under train or test by its id instead of the split it was given under.
    """
    started = time.monotonic()
    # The tasks parse Arrow batches: larger ones spread each batch's fixed costs over more rows.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
    converted = _convert_captures(spark, sources, list(mqtt_ports or [MQTT_PORT]))
    conn = db.connect(url, application="mqttids-ingest")
    try:
        lock_batch(conn, batch_date)  # released when the connection closes
        packets, rejected = create_staging(conn, batch_date)
        try:
            log.info("loading batch %s from %s", batch_date, ", ".join(s.uri for s in sources))
            rows = prepare_rows(spark, sources, batch_date, converted and converted.lines, split_by)
            result = copy_rows(rows, url, packets, rejected)
            result.batch_date = batch_date
            result.read = count_read(spark, sources, converted and converted.lines)
            result.converted = converted.files if converted else []
            verify_staged(conn, packets, rejected, result)
            result.seconds = time.monotonic() - started
            publish(conn, packets, rejected, result, sources)
        except BaseException:
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {packets}, {rejected}")
            conn.commit()
            raise
    finally:
        conn.close()
        if converted is not None:
            converted.release()
    return result
