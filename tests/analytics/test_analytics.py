"""Tests of the analytics job on real Spark and PostgreSQL.

Expected values are computed here from the CSV files with the csv module, independently of
Spark and of the ingest. Each data set is loaded under its own, unusual batch date, so the
tests share the session database with other modules without reading their batches.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import analytics as cli  # jobs/analytics.py, the CLI
import pytest
from pyspark.sql import DataFrame

from mqttids.analytics import cube
from mqttids.analytics.cube import ALL, Output
from mqttids.ingest import loading, sources
from mqttids.sample import generator, published
from mqttids.schema import CSV_HEADER, canonical_hex
from mqttids.warehouse.batches import BatchRange, NoPackets

SMALL_DAYS = (date(1999, 1, 1), date(1999, 1, 2))
TIES_DAY = date(1999, 2, 1)
REDUCED_DAY = date(1999, 3, 1)
EMPTY_DAY = date(1990, 1, 1)
SMALL_ROWS = 3000


def load(spark, db_url: str, directory: Path, day: date) -> None:
    """Load ``directory``'s train70.csv / test30.csv as batch ``day``, as ingest does."""
    inputs = [sources.resolve(spark, split, str(directory / name)) for split, name in generator.FILES.items()]
    loading.load_batch(spark, inputs, db_url, day)


def stored(conn, out: Output, run_id: str) -> list[dict]:
    """The rows a run wrote to ``out``, as dicts."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {out.name} WHERE run_id = %s", (run_id,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def content(rows: list[dict]) -> list[tuple]:
    """The rows without their run id and time, comparable across runs."""
    return sorted(tuple(v for k, v in r.items() if k not in ("run_id", "computed_at")) for r in rows)


def keyed(rows: list[dict], *keys: str) -> dict:
    """Rows by the value of one key column, or by the tuple of several."""
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


# ---------------------------------------------------------------------------------------
# Expected values, from the CSV files.
# ---------------------------------------------------------------------------------------
@dataclass
class Expected:
    """Counts and sums per split (``all`` included), computed with the csv module."""

    packets: Counter = field(default_factory=Counter)  # split -> packets
    mqtt_len: Counter = field(default_factory=Counter)  # split -> sum of mqtt.len
    per_target: Counter = field(default_factory=Counter)  # (split, target) -> packets
    tcp_len: Counter = field(default_factory=Counter)  # (split, target) -> sum of tcp.len
    flags: dict = field(default_factory=lambda: defaultdict(Counter))  # split -> flags -> n
    hdrflags: dict = field(default_factory=lambda: defaultdict(Counter))  # (split, target) -> ...

    def add(self, split: str, row: dict) -> None:
        target = row["target"]
        for s in (split, ALL):
            self.packets[s] += 1
            self.mqtt_len[s] += int(float(row["mqtt.len"]))
            self.per_target[s, target] += 1
            self.tcp_len[s, target] += int(float(row["tcp.len"]))
            self.flags[s][int(row["tcp.flags"], 16)] += 1
            self.hdrflags[s, target][int(row["mqtt.hdrflags"], 16)] += 1


def expected(*directories: Path) -> Expected:
    """The statistics of the train70.csv / test30.csv pairs in ``directories`` together."""
    result = Expected()
    for directory in directories:
        for split, name in generator.FILES.items():
            with (directory / name).open(newline="") as f:
                for row in csv.DictReader(f):
                    result.add(split, row)
    return result


def ranks(counts: Counter) -> dict[int, int]:
    """SQL rank() by count, descending: 1 + how many values have a larger count."""
    return {value: 1 + sum(n > count for n in counts.values()) for value, count in counts.items()}


# ---------------------------------------------------------------------------------------
# Data sets.
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(spark, db_url, tmp_path_factory) -> dict[date, Path]:
    """Two generated samples of a few thousand rows, loaded as two daily batches."""
    dirs = {}
    for seed, day in enumerate(SMALL_DAYS, start=1):
        dirs[day] = tmp_path_factory.mktemp(f"small{seed}")
        generator.write_pair(dirs[day], generator.rows_shape(SMALL_ROWS), seed)
        load(spark, db_url, dirs[day], day)
    return dirs


@pytest.fixture(scope="module")
def small_run(spark, db_url, small) -> cube.Results:
    """The first small batch analysed once with X = 3, for the tests that check the tables."""
    return cube.run(spark, db_url, "small", top_x=3, batches=BatchRange.single(SMALL_DAYS[0]))


# (split, target, tcp.flags as written, mqtt.hdrflags, rows): in train, 0x02 and 0x12 tie at
# rank 3 and 0x04 is rank 5; in all, 0x04 and 0x11 tie at rank 5; dos has two top hdrflags.
TIES = (
    ("train", "legitimate", "0x00000018", "0x00000030", 5),
    ("train", "legitimate", "0x0010", "0", 4),
    ("train", "dos", "0x00000002", "0x00000030", 3),
    ("train", "dos", "0x12", "0x00000040", 3),
    ("train", "dos", "0x00000004", "0", 1),
    ("test", "legitimate", "0x00000018", "0x00000030", 2),
    ("test", "flood", "0x00000011", "0x00000032", 1),
)


@pytest.fixture(scope="module")
def ties(spark, db_url, real_rows, tmp_path_factory) -> Iterator[DataFrame]:
    """A hand-written batch, built on a genuine row, with ties where the tests need them.

    Yields its cube, read once, so each top X is only a derivation.
    """
    with real_rows[0].open(newline="") as f:
        template = next(csv.DictReader(f))
    directory = tmp_path_factory.mktemp("ties")
    for split, name in generator.FILES.items():
        with (directory / name).open("w", newline="") as f:
            f.write(CSV_HEADER + "\n")
            writer = csv.DictWriter(f, fieldnames=list(template), lineterminator="\n")
            for row_split, target, flags, hdrflags, n in TIES:
                if row_split == split:
                    row = template | {"target": target, "tcp.flags": flags, "mqtt.hdrflags": hdrflags}
                    writer.writerows([row] * n)
    load(spark, db_url, directory, TIES_DAY)
    cells = cube.cached_cube(spark, db_url, BatchRange.single(TIES_DAY))
    yield cells
    cells.unpersist()


@pytest.fixture(scope="module")
def reduced(spark, db_url, tmp_path_factory) -> cube.Results:
    """The generated reduced shape (331k rows), loaded and analysed once, with X = 4."""
    directory = tmp_path_factory.mktemp("reduced")
    generator.write_pair(directory, generator.reduced_shape(), 0)
    load(spark, db_url, directory, REDUCED_DAY)
    return cube.run(spark, db_url, "reduced", top_x=4, batches=BatchRange.single(REDUCED_DAY))


# ---------------------------------------------------------------------------------------
# Results against the CSV files.
# ---------------------------------------------------------------------------------------
def test_avg_mqtt_len_matches_csv(small, small_run, db_conn):
    want = expected(small[SMALL_DAYS[0]])
    rows = keyed(stored(db_conn, cube.AVG_MQTT_LEN, "small"), "split")
    assert set(rows) == {"train", "test", ALL}
    for split, row in rows.items():
        assert row["packets"] == want.packets[split]
        assert row["avg_mqtt_len"] == pytest.approx(want.mqtt_len[split] / want.packets[split], rel=1e-12)
        assert (row["batch_from"], row["batch_to"]) == (SMALL_DAYS[0], SMALL_DAYS[0])
        assert row["computed_at"] is not None


def test_avg_tcp_len_and_histogram_match_csv(small, small_run, db_conn):
    want = expected(small[SMALL_DAYS[0]])
    tcp = keyed(stored(db_conn, cube.AVG_TCP_LEN, "small"), "split", "target")
    hist = keyed(stored(db_conn, cube.CLASS_HISTOGRAM, "small"), "split", "target")
    assert set(tcp) == set(hist) == set(want.per_target)
    for key, packets in want.per_target.items():
        assert tcp[key]["packets"] == hist[key]["packets"] == packets
        assert tcp[key]["avg_tcp_len"] == pytest.approx(want.tcp_len[key] / packets, rel=1e-12)
        assert hist[key]["share"] == pytest.approx(packets / want.packets[key[0]], rel=1e-12)


def test_top_tcp_flags_match_csv(small, small_run, db_conn):
    want = expected(small[SMALL_DAYS[0]])
    rows = stored(db_conn, cube.TOP_TCP_FLAGS, "small")
    for split in ("train", "test", ALL):
        rank = ranks(want.flags[split])
        got = {r["tcp_flags"]: r for r in rows if r["split"] == split}
        assert set(got) == {flag for flag, r in rank.items() if r <= 3}
        for flag, row in got.items():
            assert (row["rank"], row["packets"], row["top_x"]) == (rank[flag], want.flags[split][flag], 3)
            assert row["tcp_flags_hex"] == canonical_hex(flag)


def test_top_hdrflags_match_csv(small, small_run, db_conn):
    want = expected(small[SMALL_DAYS[0]])
    rows = stored(db_conn, cube.TOP_HDRFLAGS, "small")
    got = {(r["split"], r["target"], r["mqtt_hdrflags"]): r for r in rows}
    top = {
        (*key, flag): n
        for key, counts in want.hdrflags.items()
        for flag, n in counts.items()
        if n == max(counts.values())
    }
    assert set(got) == set(top)
    for key, n in top.items():
        assert got[key]["packets"] == n
        assert got[key]["share"] == pytest.approx(n / want.per_target[key[:2]], rel=1e-12)
        assert got[key]["mqtt_hdrflags_hex"] == canonical_hex(key[2])


def test_summary_renders_the_stored_answers(small, small_run, db_conn):
    text = cube.summary(db_conn, "small")
    train = keyed(stored(db_conn, cube.AVG_MQTT_LEN, "small"), "split")["train"]
    assert f"{train['avg_mqtt_len']:.4f}" in text
    assert "Top 3 tcp.flags" in text
    for row in stored(db_conn, cube.TOP_TCP_FLAGS, "small"):
        assert f"{row['rank']}. {row['tcp_flags_hex']} {row['packets']:,}" in text
    with pytest.raises(LookupError, match="no analytics stored for run id 'never-ran'"):
        cube.summary(db_conn, "never-ran")


# ---------------------------------------------------------------------------------------
# Batch dates, reruns and empty input.
# ---------------------------------------------------------------------------------------
def test_batch_range_selects_batches(spark, db_url, small, db_conn):
    both = cube.run(spark, db_url, "range-both", top_x=3, batches=BatchRange(*SMALL_DAYS))
    second = cube.run(spark, db_url, "range-second", batches=BatchRange(SMALL_DAYS[1], date(1999, 1, 31)))
    assert (both.batch_from, both.batch_to) == SMALL_DAYS
    assert (second.batch_from, second.batch_to) == (SMALL_DAYS[1], SMALL_DAYS[1])
    for run_id, want in (
        ("range-both", expected(*small.values())),
        ("range-second", expected(small[SMALL_DAYS[1]])),
    ):
        rows = keyed(stored(db_conn, cube.AVG_MQTT_LEN, run_id), "split")
        assert {s: r["packets"] for s, r in rows.items()} == dict(want.packets)


def test_no_range_reads_every_batch(spark, db_url, small, db_conn):
    cube.run(spark, db_url, "every-batch", top_x=1)
    with db_conn.cursor() as cur:
        cur.execute("SELECT count(*), min(batch_date), max(batch_date) FROM mqtt.packets")
        count, first, last = cur.fetchone()
    row = keyed(stored(db_conn, cube.AVG_MQTT_LEN, "every-batch"), "split")[ALL]
    assert (row["packets"], row["batch_from"], row["batch_to"]) == (count, first, last)


def test_rerun_replaces_and_run_ids_coexist(spark, db_url, small, db_conn):
    day = BatchRange.single(SMALL_DAYS[0])
    cube.run(spark, db_url, "rerun", top_x=8, batches=day)
    first = {out: len(stored(db_conn, out, "rerun")) for out in cube.OUTPUTS}
    cube.run(spark, db_url, "rerun", top_x=1, batches=day)
    cube.run(spark, db_url, "rerun-other", top_x=1, batches=day)
    for out in cube.OUTPUTS:
        again, other = stored(db_conn, out, "rerun"), stored(db_conn, out, "rerun-other")
        if out is cube.TOP_TCP_FLAGS:  # the second run's X replaced the first's
            assert {r["top_x"] for r in again} == {1} and len(again) < first[out]
        else:
            assert len(again) == first[out]
        assert content(again) == content(other)


class KeepRunning:
    """The session fixture's Spark, minus stop(): the CLI stops its session when done."""

    def __init__(self, spark) -> None:
        self._spark = spark

    def __getattr__(self, name: str):
        return getattr(self._spark, name)

    def stop(self) -> None:
        """Leave the shared session to the fixture."""


def test_cli_runs_and_prints_the_summary(spark, db_url, small, db_conn, monkeypatch, capsys):
    monkeypatch.setattr(cli, "session", lambda *args, **kwargs: KeepRunning(spark))
    argv = ["--run-id", "cli", "--top-x", "2", "--batch-date", str(SMALL_DAYS[1]), "--db-url", db_url]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.strip() == cube.summary(db_conn, "cli")
    assert f"batches {SMALL_DAYS[1]} to {SMALL_DAYS[1]}" in out and "Top 2 tcp.flags" in out


def test_empty_input_fails_clearly(spark, db_url, small, db_conn, capsys):
    with pytest.raises(NoPackets, match="no packets in mqtt.packets for batch 1990-01-01"):
        cube.run(spark, db_url, "empty", batches=BatchRange.single(EMPTY_DAY))
    with pytest.raises(LookupError):
        cube.summary(db_conn, "empty")
    assert cli.main(["--run-id", "empty", "--batch-date", str(EMPTY_DAY), "--db-url", db_url]) == 1
    assert "analytics failed: no packets in mqtt.packets for batch 1990-01-01" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Top X: ties and validation.
# ---------------------------------------------------------------------------------------
def top_flags(cells: DataFrame, top_x: int, split: str) -> list[tuple[int, str, int]]:
    """(rank, hex, packets) of one split's top X, sorted."""
    frame = cube.derive(cube.with_all_split(cells), top_x)[cube.TOP_TCP_FLAGS]
    return sorted((r.rank, r.tcp_flags_hex, r.packets) for r in frame.collect() if r.split == split)


@pytest.mark.parametrize(
    ("top_x", "split", "want"),
    [
        (2, "train", [(1, "0x18", 5), (2, "0x10", 4)]),
        (3, "train", [(1, "0x18", 5), (2, "0x10", 4), (3, "0x02", 3), (3, "0x12", 3)]),
        (4, "train", [(1, "0x18", 5), (2, "0x10", 4), (3, "0x02", 3), (3, "0x12", 3)]),
        (5, "train", [(1, "0x18", 5), (2, "0x10", 4), (3, "0x02", 3), (3, "0x12", 3), (5, "0x04", 1)]),
        (
            5,
            ALL,
            [(1, "0x18", 7), (2, "0x10", 4), (3, "0x02", 3), (3, "0x12", 3), (5, "0x04", 1), (5, "0x11", 1)],
        ),
        (1, "test", [(1, "0x18", 2)]),
    ],
)
def test_top_x_keeps_ties_at_rank_x(ties, top_x, split, want):
    assert top_flags(ties, top_x, split) == want


def test_top_hdrflags_keeps_ties(spark, db_url, ties, db_conn):
    cube.run(spark, db_url, "ties-hdr", top_x=1, batches=BatchRange.single(TIES_DAY))
    rows = stored(db_conn, cube.TOP_HDRFLAGS, "ties-hdr")
    got = sorted(
        (r["split"], r["target"], r["mqtt_hdrflags_hex"], r["packets"], round(r["share"], 6)) for r in rows
    )
    assert [g for g in got if g[0] != ALL] == [
        ("test", "flood", "0x32", 1, 1.0),
        ("test", "legitimate", "0x30", 2, 1.0),
        ("train", "dos", "0x30", 3, round(3 / 7, 6)),
        ("train", "dos", "0x40", 3, round(3 / 7, 6)),
        ("train", "legitimate", "0x30", 5, round(5 / 9, 6)),
    ]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_top_x_must_be_a_positive_integer(spark, db_url, bad):
    with pytest.raises(ValueError, match="top X must be a positive integer"):
        cube.run(spark, db_url, "bad-x", top_x=bad, batches=BatchRange.single(EMPTY_DAY))


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_cli_rejects_bad_top_x(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["--run-id", "x", "--top-x", bad])
    assert exit_info.value.code == 2
    assert f"argument --top-x: '{bad}': must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from-date", "2020-06-02", "--to-date", "2020-06-01"], "2020-06-02 is after 2020-06-01"),
        (["--batch-date", "2020-06-01", "--to-date", "2020-06-02"], "cannot be combined"),
        (["--run-id", " "], "--run-id must not be empty"),
    ],
)
def test_cli_rejects_bad_dates_and_run_id(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--run-id", "x", *argv])
    assert message in capsys.readouterr().err


def test_cli_batch_options_make_ranges():
    assert cli.parse_args(["--run-id", "x"]).batches == BatchRange()
    assert cli.parse_args(["--run-id", "x", "--batch-date", "2020-06-03"]).batches == BatchRange.single(
        date(2020, 6, 3)
    )
    assert cli.parse_args(["--run-id", "x", "--from-date", "2020-06-03"]).batches == BatchRange(
        date(2020, 6, 3)
    )


# ---------------------------------------------------------------------------------------
# The generated reduced shape against the published statistics.
# ---------------------------------------------------------------------------------------
def test_reduced_shape_matches_published(reduced, db_conn):
    mqtt = keyed(stored(db_conn, cube.AVG_MQTT_LEN, "reduced"), "split")
    assert mqtt["train"]["avg_mqtt_len"] == pytest.approx(published.AVG_MQTT_LEN_TRAIN, rel=0.05)
    tcp = keyed(stored(db_conn, cube.AVG_TCP_LEN, "reduced"), "split", "target")
    for target, value in published.AVG_TCP_LEN_TRAIN.items():
        assert tcp["train", target]["avg_tcp_len"] == pytest.approx(value, rel=0.05), target
    hist = keyed(stored(db_conn, cube.CLASS_HISTOGRAM, "reduced"), "split", "target")
    for split, counts in published.REDUCED_ROWS.items():
        assert {t: hist[split, t]["packets"] for t in counts} == counts


def test_reduced_shape_keeps_the_published_tie_at_rank_4(reduced, db_conn):
    rows = [r for r in stored(db_conn, cube.TOP_TCP_FLAGS, "reduced") if r["split"] == ALL]
    published_rank = ranks(Counter(published.TCP_FLAGS_COUNTS))
    assert len(rows) == 5
    for row in rows:
        assert row["rank"] == published_rank[row["tcp_flags"]]
        assert row["packets"] == pytest.approx(published.TCP_FLAGS_COUNTS[row["tcp_flags"]], rel=0.05)
    assert {r["tcp_flags_hex"] for r in rows if r["rank"] == 4} == {"0x02", "0x12"}
