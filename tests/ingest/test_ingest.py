"""Integration tests of the ingest: real local Spark, real PostgreSQL.

Each test files its load under its own batch date in the session's test database, so
tests do not see each other's batches. Expected values are computed here from the CSV
text with plain Python (``int(x, 16)`` for hex flags, ``float(x)`` for numbers, the text
itself for text) and compared with what PostgreSQL returns.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from pyspark.sql import functions as F

from mqttids.ingest import loading, sources
from mqttids.runtime import db
from mqttids.sample import generator
from mqttids.warehouse import tables

REPO = Path(__file__).resolve().parents[2]
INGEST = REPO / "jobs" / "ingest.py"

# From the MQTTset README (tests/fixtures/mqttset/README.md): hex flag columns, verbatim text
# columns; the rest numeric.
HEX = {"tcp.flags", "mqtt.conack.flags", "mqtt.conflags", "mqtt.hdrflags"}
TEXT = {"mqtt.msg", "mqtt.protoname", "target"}

BASELINE_DAY = date(2001, 1, 10)  # loaded once by the `baseline` fixture, then only read


# ---------------------------------------------------------------------------------------
# Helpers: files, expected values, database state
# ---------------------------------------------------------------------------------------
def read_rows(path: Path) -> tuple[str, list[str]]:
    """Header and non-blank data lines of an MQTTset CSV (BOM and CR removed)."""
    lines = path.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()
    return lines[0], [line for line in lines[1:] if line.strip()]


def write_csv(
    path: Path, header: str | None, lines: list[str], newline: str = "\n", bom: bool = False
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(([header] if header is not None else []) + lines) + newline
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def table_names(header: str) -> list[str]:
    return [name.replace(".", "_") for name in header.split(",")]


def expected_value(csv_name: str, text: str):
    text = text.strip()
    if csv_name in HEX:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    if csv_name in TEXT:
        return text
    return float(text)


def expected_row(header: str, split: str, file_name: str, line: str) -> tuple:
    cells = line.split(",")
    names = header.split(",")
    assert len(cells) == len(names) == 34, line
    return (split, file_name, *[expected_value(n, c) for n, c in zip(names, cells, strict=True)])


def expected_packets(header: str, files: dict[str, list[Path]]) -> Counter:
    """(split, file name, *values) for every data line of the files."""
    rows: Counter = Counter()
    for split, paths in files.items():
        for path in paths:
            for line in read_rows(path)[1]:
                rows[expected_row(header, split, path.name, line)] += 1
    return rows


def stored_packets(conn, header: str, day: date) -> Counter:
    columns = ", ".join(table_names(header))
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT split, regexp_replace(source_file, '^.*/', ''), {columns} "
            "FROM mqtt.packets WHERE batch_date = %s",
            (day,),
        )
        return Counter(tuple(row) for row in cur.fetchall())


def stored_rejected(conn, day: date) -> list[tuple[str, str, str, str]]:
    """(split, file name, raw line, reason) of the batch's rejected rows."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT split, source_file, raw_line, reason FROM mqtt.rejected_rows WHERE batch_date = %s",
            (day,),
        )
        return [(s, f.rsplit("/", 1)[-1], raw, reason) for s, f, raw, reason in cur.fetchall()]


def batch_row(conn, day: date) -> dict | None:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM mqtt.ingest_batches WHERE batch_date = %s", (day,))
        rows = cur.fetchall()
        assert len(rows) <= 1
        if not rows:
            return None
        return dict(zip([d.name for d in cur.description], rows[0], strict=True))


def snapshot(conn, day: date) -> tuple:
    """Everything stored for one batch date, for before/after comparisons."""
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM mqtt.packets WHERE batch_date = %s", (day,))
        packets = sorted(cur.fetchall(), key=repr)
        cur.execute("SELECT * FROM mqtt.rejected_rows WHERE batch_date = %s", (day,))
        rejected = sorted(cur.fetchall(), key=repr)
    return packets, rejected, batch_row(conn, day)


def staging_tables(conn) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'mqtt' "
            "AND (tablename LIKE 'packets_load%' OR tablename LIKE 'rejected_load%')"
        )
        return [name for (name,) in cur.fetchall()]


def load(spark, train: Path | str, test: Path | str, url: str, day: date) -> loading.LoadResult:
    inputs = [sources.resolve(spark, "train", str(train)), sources.resolve(spark, "test", str(test))]
    return loading.load_batch(spark, inputs, url, day)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mutate(line: str, index: int, text: str) -> str:
    cells = line.split(",")
    cells[index] = text
    return ",".join(cells)


@pytest.fixture()
def conn(db_conn):
    """The test database, in autocommit so no read holds a lock a publish needs."""
    db_conn.autocommit = True
    return db_conn


@pytest.fixture(scope="module")
def baseline(spark, db_url, real_rows):
    """The genuine rows loaded as BASELINE_DAY; returns that batch's stored state."""
    load(spark, real_rows[0], real_rows[1], db_url, BASELINE_DAY)
    check = db.connect(db_url)
    check.autocommit = True
    try:
        state = snapshot(check, BASELINE_DAY)
    finally:
        check.close()
    assert len(state[0]) == 20 and state[2] is not None
    return state


# Bad lines, each with what its reject reason must mention.
def bad_lines(header: str, good: str) -> list[tuple[str, list[str]]]:
    cells = good.split(",")
    at = header.split(",").index
    return [
        ("this is not an MQTTset row", ["column", "1"]),
        (",".join(cells[:-1]), ["column", "33"]),
        (good + ",0", ["column", "35"]),
        (mutate(good, at("tcp.flags"), "0xzz"), ["tcp_flags", "0xzz"]),
        (mutate(good, at("tcp.len"), "70000"), ["tcp_len", "70000"]),
        (mutate(good, at("tcp.time_delta"), "NaN"), ["tcp_time_delta", "NaN"]),
        (mutate(good, at("target"), "ddos"), ["target", "ddos"]),
        # Quotes in the raw line must survive COPY's CSV quoting.
        (mutate(mutate(good, at("mqtt.msg"), 'a"b'), at("target"), 'at"tack'), ["target", 'at"tack']),
        (mutate(good, at("mqtt.msgtype"), ""), ["mqtt_msgtype", "empty"]),
    ]


def write_bad_files(directory: Path, real_rows) -> dict:
    """Train and test files mixing genuine rows with bad ones; returns what to expect."""
    header, train = read_rows(real_rows[0])
    _, test = read_rows(real_rows[1])
    train_bad = bad_lines(header, train[0])
    test_bad = bad_lines(header, test[1])[::2]
    # Interleave: bad lines between good ones, not only at the end.
    train_lines = [x for pair in zip(train, [b for b, _ in train_bad], strict=False) for x in pair]
    train_lines += train[len(train_bad) :]
    test_lines = [test[0]] + [b for b, _ in test_bad] + test[1:]
    paths = {
        "train": write_csv(directory / "train70.csv", header, train_lines),
        "test": write_csv(directory / "test30.csv", header, test_lines),
    }
    return {
        "header": header,
        "paths": paths,
        "good": {"train": train, "test": test},
        "bad": {"train": train_bad, "test": test_bad},
        "lines": len(train_lines) + len(test_lines),
    }


# ---------------------------------------------------------------------------------------
# Loading genuine and generated data
# ---------------------------------------------------------------------------------------
def test_genuine_rows_load_without_loss_and_round_trip(spark, db_url, conn, real_rows):
    day = date(2001, 1, 1)
    header, train = read_rows(real_rows[0])
    _, test = read_rows(real_rows[1])

    result = load(spark, real_rows[0], real_rows[1], db_url, day)

    total = len(train) + len(test)
    assert total == 20
    assert result.rows_rejected == 0
    assert result.rows_loaded == total == result.rows_read
    per_class = Counter(("train", line.rsplit(",", 1)[1]) for line in train)
    per_class += Counter(("test", line.rsplit(",", 1)[1]) for line in test)
    assert Counter(result.loaded) == per_class

    expected = expected_packets(header, {"train": [real_rows[0]], "test": [real_rows[1]]})
    assert stored_packets(conn, header, day) == expected
    assert stored_rejected(conn, day) == []

    batch = batch_row(conn, day)
    assert batch is not None
    assert (batch["rows_read"], batch["rows_loaded"], batch["rows_rejected"]) == (total, total, 0)
    assert sorted(Path(s).name for s in batch["sources"]) == sorted(p.name for p in real_rows)
    assert staging_tables(conn) == []

    with conn.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'mqtt' "
            "AND table_name = 'packets' ORDER BY ordinal_position"
        )
        columns = [name for (name,) in cur.fetchall()]
    assert columns[4:38] == table_names(header)
    assert columns[38:] == ["connection_id", "capture_time", "connection_seq"]
    with conn.cursor() as cur:  # train/test CSVs have no connections: NULL, not made up
        cur.execute(
            "SELECT count(*) FROM mqtt.packets WHERE batch_date = %s AND (connection_id IS NOT NULL "
            "OR capture_time IS NOT NULL OR connection_seq IS NOT NULL)",
            (day,),
        )
        assert cur.fetchone()[0] == 0


def test_generated_sample_loads_through_a_glob(spark, db_url, conn, tmp_path):
    day = date(2001, 1, 2)
    generated = tmp_path / "generated"
    generator.write_pair(generated, generator.rows_shape(400), seed=11)
    header, train = read_rows(generated / "train70.csv")
    half = len(train) // 2
    landing = tmp_path / "landing"
    parts = [
        write_csv(landing / "train70_a.csv", header, train[:half]),
        write_csv(landing / "train70_b.csv", header, train[half:]),
    ]
    test_path = landing / "test30.csv"
    shutil.copy(generated / "test30.csv", test_path)
    _, test = read_rows(test_path)

    result = load(spark, f"{landing}/train*.csv", test_path, db_url, day)

    assert result.rows_rejected == 0, stored_rejected(conn, day)[:3]
    assert result.rows_loaded == len(train) + len(test) == 400
    expected = expected_packets(header, {"train": parts, "test": [test_path]})
    assert stored_packets(conn, header, day) == expected
    batch = batch_row(conn, day)
    assert sorted(Path(s).name for s in batch["sources"]) == ["test30.csv", "train70_a.csv", "train70_b.csv"]


def test_crlf_bom_and_blank_lines_are_handled(spark, db_url, conn, tmp_path, real_rows):
    day = date(2001, 1, 3)
    header, train = read_rows(real_rows[0])
    _, test = read_rows(real_rows[1])
    train_path = write_csv(tmp_path / "train70.csv", header, train, newline="\r\n", bom=True)
    test_path = write_csv(tmp_path / "test30.csv", header, [test[0], "", test[1], ""], newline="\r\n")

    result = load(spark, train_path, test_path, db_url, day)

    assert result.rows_rejected == 0, stored_rejected(conn, day)
    assert result.rows_loaded == len(train) + len(test)
    expected = expected_packets(header, {"train": [train_path], "test": [test_path]})
    assert stored_packets(conn, header, day) == expected


def test_values_at_the_schema_bounds_load(spark, db_url, conn, tmp_path, real_rows):
    """Whatever the parser accepts, PostgreSQL must store: Spark and DDL checks must agree."""
    from mqttids.schema import COLUMNS, Kind

    day = date(2001, 1, 4)
    header, _ = read_rows(real_rows[0])

    def cell(col, bound):
        if col.kind is Kind.TEXT:
            return "MQTT" if bound == "hi" else "0"
        if col.kind is Kind.LABEL:
            return "flood" if bound == "hi" else "legitimate"
        value = col.hi if bound == "hi" else col.lo
        if col.kind is Kind.HEX:
            return f"0x{int(value):08x}"
        if col.kind is Kind.INT:
            return f"{int(value)}.0"
        return repr(float(value)) if value is not None else ("1.0E300" if bound == "hi" else "-1.0E300")

    highs = ",".join(cell(c, "hi") for c in COLUMNS)
    lows = ",".join(cell(c, "lo") for c in COLUMNS)
    train_path = write_csv(tmp_path / "train70.csv", header, [highs, lows])
    test_path = write_csv(tmp_path / "test30.csv", header, [lows])

    result = load(spark, train_path, test_path, db_url, day)

    assert result.rows_rejected == 0, stored_rejected(conn, day)
    expected = expected_packets(header, {"train": [train_path], "test": [test_path]})
    assert stored_packets(conn, header, day) == expected


def test_source_file_names_the_file_that_was_read(spark, db_url, conn, tmp_path, real_rows):
    """source_file must point at the input file, as ingest_batches.sources does, even with a space."""
    day = date(2001, 1, 5)
    header, train = read_rows(real_rows[0])
    _, test = read_rows(real_rows[1])
    landing = tmp_path / "landing 2020-06-01"
    train_path = write_csv(landing / "train70.csv", header, train)
    test_path = write_csv(landing / "test30.csv", header, [*test, mutate(test[0], 33, "ddos")])

    load(spark, train_path, test_path, db_url, day)

    recorded = set(batch_row(conn, day)["sources"])
    with conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT split, source_file FROM mqtt.packets WHERE batch_date = %(d)s UNION "
            "SELECT DISTINCT split, source_file FROM mqtt.rejected_rows WHERE batch_date = %(d)s",
            {"d": day},
        )
        stored = set(cur.fetchall())
    assert {split for split, _ in stored} == {"train", "test"}
    for split, source_file in stored:
        path = Path(re.sub(r"^file:(//)?", "", source_file))
        assert path == {"train": train_path, "test": test_path}[split], source_file
        assert source_file in recorded, f"{source_file!r} is not among the batch's sources {recorded}"


# ---------------------------------------------------------------------------------------
# Bad rows are quarantined
# ---------------------------------------------------------------------------------------
def test_bad_rows_are_quarantined_and_good_rows_load(spark, db_url, conn, tmp_path, real_rows):
    day = date(2001, 2, 1)
    files = write_bad_files(tmp_path, real_rows)
    header, paths = files["header"], files["paths"]

    result = load(spark, paths["train"], paths["test"], db_url, day)

    n_bad = {split: len(bad) for split, bad in files["bad"].items()}
    n_good = sum(len(lines) for lines in files["good"].values())
    assert result.rows_loaded == n_good
    assert dict(result.rejected) == n_bad
    assert result.rows_read == files["lines"] == result.rows_loaded + result.rows_rejected

    good = {split: [write_csv(tmp_path / "good" / paths[split].name, header, lines)]
            for split, lines in files["good"].items()}  # fmt: skip
    assert stored_packets(conn, header, day) == expected_packets(header, good)

    rejected = stored_rejected(conn, day)
    expected_raw = Counter(
        (split, paths[split].name, raw) for split, bad in files["bad"].items() for raw, _ in bad
    )
    assert Counter((s, f, raw) for s, f, raw, _ in rejected) == expected_raw
    reasons = {raw: reason for _, _, raw, reason in rejected}
    for split_bad in files["bad"].values():
        for raw, words in split_bad:
            for word in words:
                assert word in reasons[raw], f"reason {reasons[raw]!r} for {raw[:60]!r} lacks {word!r}"

    batch = batch_row(conn, day)
    assert batch["rows_read"] == files["lines"]
    assert batch["rows_loaded"] == n_good
    assert batch["rows_rejected"] == sum(n_bad.values())
    assert batch["rows_read"] == batch["rows_loaded"] + batch["rows_rejected"]


def test_undecodable_bytes_in_a_row_are_quarantined_not_fatal(spark, db_url, conn, tmp_path, real_rows):
    """A NUL or a non-UTF-8 byte in one line is a bad row like any other."""
    day = date(2001, 2, 2)
    header, train = read_rows(real_rows[0])
    _, test = read_rows(real_rows[1])
    train_path = write_csv(tmp_path / "train70.csv", header, train)
    nul = mutate(test[0], 33, "mal\x00formed").encode()  # 33: target
    latin1 = mutate(test[0], 33, "l\xe9gitime").encode("latin-1")
    body = "\n".join([header, *test]).encode() + b"\n" + nul + b"\n" + latin1 + b"\n"
    test_path = tmp_path / "test30.csv"
    test_path.write_bytes(body)

    result = load(spark, train_path, test_path, db_url, day)

    assert result.rows_loaded == len(train) + len(test)
    assert dict(result.rejected) == {"test": 2}
    rejected = stored_rejected(conn, day)
    assert len(rejected) == 2
    assert all(
        split == "test" and name == "test30.csv" and "target" in reason for split, name, _, reason in rejected
    )


# ---------------------------------------------------------------------------------------
# Reruns replace their batch only
# ---------------------------------------------------------------------------------------
def test_rerun_replaces_the_batch_and_leaves_other_dates(spark, db_url, conn, tmp_path, real_rows, baseline):
    day = date(2001, 3, 1)
    files = write_bad_files(tmp_path, real_rows)
    header, paths = files["header"], files["paths"]
    n_bad = sum(len(bad) for bad in files["bad"].values())

    load(spark, paths["train"], paths["test"], db_url, day)
    first = snapshot(conn, day)
    first_packets = stored_packets(conn, header, day)
    assert len(first[1]) == n_bad

    load(spark, paths["train"], paths["test"], db_url, day)  # same files, same date
    assert stored_packets(conn, header, day) == first_packets, "rerun duplicated or lost packets"
    second = snapshot(conn, day)
    assert len(second[0]) == len(first[0])
    assert sorted(r[:5] for r in second[1]) == sorted(r[:5] for r in first[1]), "rejected rows duplicated"
    assert second[2]["loaded_at"] > first[2]["loaded_at"], "ingest_batches row not updated"
    assert second[2]["rows_read"] == first[2]["rows_read"]

    load(spark, real_rows[0], real_rows[1], db_url, day)  # different content, same date
    expected = expected_packets(header, {"train": [real_rows[0]], "test": [real_rows[1]]})
    assert stored_packets(conn, header, day) == expected
    assert stored_rejected(conn, day) == []
    batch = batch_row(conn, day)
    assert (batch["rows_read"], batch["rows_loaded"], batch["rows_rejected"]) == (20, 20, 0)
    assert sorted(Path(s).name for s in batch["sources"]) == sorted(p.name for p in real_rows)

    assert snapshot(conn, BASELINE_DAY) == baseline, "another batch date changed"
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'mqtt.packets'::regclass AND c.relname = %s",
            (f"packets_{day:%Y%m%d}",),
        )
        assert cur.fetchone()[0] == 1
    assert staging_tables(conn) == []


# ---------------------------------------------------------------------------------------
# Bad inputs fail before anything is written
# ---------------------------------------------------------------------------------------
def _header(real_rows) -> str:
    return read_rows(real_rows[0])[0]


NO_ROWS = r"no (data )?rows|header only|only a header|no data"
# name: (the split whose input is bad, words the message must contain)
SOURCE_CASES = {
    "missing-file": ("train", [r"not found|no such|missing|does not exist"]),
    "glob-matches-nothing": ("train", [r"not found|no such|no file|match"]),
    "empty-file": ("test", ["empty"]),
    "blank-file": ("test", ["empty"]),
    "header-only": ("test", [NO_ROWS]),
    "header-only-crlf": ("test", [NO_ROWS]),
    "header-then-blank-line": ("test", [NO_ROWS]),
    "renamed-column": ("test", ["header", "tcp.length"]),
    "missing-column": ("test", ["lacks the column mqtt.kalive"]),
    "no-target-no-class": ("test", ["no target column", "label map"]),
    "no-header": ("train", ["header"]),
}


def make_bad_source(case: str, directory: Path, real_rows) -> Path | str:
    """The bad input of a SOURCE_CASES case (a path, or a glob)."""
    header, rows = read_rows(real_rows[1])
    path = directory / "test30.csv"
    if case == "missing-file":
        return directory / "nope" / "train70.csv"
    if case == "glob-matches-nothing":
        return f"{directory}/train_*.csv"
    if case == "empty-file":
        path.write_bytes(b"")
    elif case == "blank-file":
        path.write_bytes(b"\n\n")
    elif case == "header-only":
        path.write_bytes(header.encode() + b"\n")
    elif case == "header-only-crlf":
        path.write_bytes(header.encode() + b"\r\n")
    elif case == "header-then-blank-line":
        path.write_bytes(header.encode() + b"\n\n")
    elif case == "renamed-column":
        write_csv(path, header.replace("tcp.len", "tcp.length"), rows)
    elif case == "missing-column":
        drop = header.split(",").index("mqtt.kalive")
        cut = [",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in [header, *rows]]
        write_csv(path, cut[0], cut[1:])
    elif case == "no-target-no-class":
        write_csv(path, header.rsplit(",", 1)[0], [row.rsplit(",", 1)[0] for row in rows])
    elif case == "no-header":
        return write_csv(directory / "train70.csv", None, read_rows(real_rows[0])[1])
    return path


@pytest.mark.parametrize("case", SOURCE_CASES)
def test_bad_input_fails_naming_file_and_problem_and_changes_nothing(
    case, spark, db_url, conn, tmp_path, real_rows, baseline, run_cli
):
    bad_split, words = SOURCE_CASES[case]
    bad = make_bad_source(case, tmp_path, real_rows)
    good = {"train": real_rows[0], "test": real_rows[1]}
    paths = {**good, bad_split: bad}
    shown = str(bad)  # the message must name the file as given (a resolved file as file:<path>)

    with pytest.raises(sources.SourceError) as raised:
        sources.resolve(spark, bad_split, str(bad))
    message = str(raised.value)
    assert shown in message, f"message does not name the file: {message!r}"
    for word in words:
        assert re.search(word, message, flags=re.I), f"{message!r} does not say {word!r}"

    code, _, err = run_cli(
        "--train", str(paths["train"]), "--test", str(paths["test"]),
        "--db-url", db_url, "--batch-date", BASELINE_DAY.isoformat(),
    )  # fmt: skip
    assert code != 0
    assert shown in err
    assert snapshot(conn, BASELINE_DAY) == baseline, "a failed run changed the previous batch"
    assert staging_tables(conn) == []


# ---------------------------------------------------------------------------------------
# Database problems and failed loads
# ---------------------------------------------------------------------------------------
def test_unreachable_database_is_a_clear_error(spark, real_rows, run_cli):
    port = closed_port()
    url = f"postgresql://mqttids:s3cret-pw@127.0.0.1:{port}/mqttids"

    with pytest.raises(db.DatabaseUnreachable) as raised:
        db.connect(url)
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)

    inputs = [
        sources.resolve(spark, "train", str(real_rows[0])),
        sources.resolve(spark, "test", str(real_rows[1])),
    ]
    with pytest.raises(db.DatabaseUnreachable):
        loading.load_batch(spark, inputs, url, date(2001, 4, 1))

    code, _, err = run_cli("--train", str(real_rows[0]), "--test", str(real_rows[1]), "--db-url", url)
    assert code != 0
    assert str(port) in err
    assert "s3cret-pw" not in err


def _other_connection(url: str):
    conn = db.connect(url)
    conn.autocommit = True
    return conn


def test_read_back_mismatch_publishes_nothing(spark, db_url, conn, real_rows, baseline, monkeypatch, run_cli):
    """A staged table holding more rows than the tasks sent (a duplicated task) must abort."""
    real_copy_rows = loading.copy_rows

    def copy_rows_then_duplicate_one(rows, url, packets, rejected):
        result = real_copy_rows(rows, url, packets, rejected)
        other = _other_connection(url)
        try:
            with other.cursor() as cur:
                cur.execute(f"INSERT INTO {packets} SELECT * FROM {packets} LIMIT 1")
        finally:
            other.close()
        return result

    monkeypatch.setattr(loading, "copy_rows", copy_rows_then_duplicate_one)

    with pytest.raises(loading.ReadBackMismatch):
        load(spark, real_rows[0], real_rows[1], db_url, BASELINE_DAY)
    assert staging_tables(conn) == []
    assert snapshot(conn, BASELINE_DAY) == baseline

    code, _, err = run_cli(
        "--train", str(real_rows[0]), "--test", str(real_rows[1]),
        "--db-url", db_url, "--batch-date", BASELINE_DAY.isoformat(),
    )  # fmt: skip
    assert code != 0
    assert "read-back" in err.lower() or "mismatch" in err.lower()
    assert staging_tables(conn) == []
    assert snapshot(conn, BASELINE_DAY) == baseline


def test_database_error_during_copy_leaves_previous_batch(
    spark, db_url, conn, real_rows, baseline, monkeypatch
):
    """A COPY that PostgreSQL refuses mid-load (here a CHECK every row breaks) fails the load cleanly."""
    real_create = loading.create_staging

    def create_staging_that_refuses_rows(connection, batch_date):
        packets, rejected = real_create(connection, batch_date)
        other = _other_connection(db_url)
        try:
            with other.cursor() as cur:
                cur.execute(f"ALTER TABLE {packets} ADD CONSTRAINT refuse_all CHECK (tcp_len < 0)")
        finally:
            other.close()
        return packets, rejected

    monkeypatch.setattr(loading, "create_staging", create_staging_that_refuses_rows)

    with pytest.raises(Exception) as raised:
        load(spark, real_rows[0], real_rows[1], db_url, BASELINE_DAY)
    assert "refuse_all" in str(raised.value)
    assert staging_tables(conn) == []
    assert snapshot(conn, BASELINE_DAY) == baseline


def test_failure_inside_publish_rolls_back_the_swap(spark, db_url, conn, real_rows, baseline, monkeypatch):
    """Publishing drops the old partition first: a later error must bring it back."""
    real_publish = loading.publish

    def publish_failing_halfway(*args, **kwargs):
        # The old partition is dropped and the new one attached; then the statement
        # that replaces the batch's rejected rows fails.
        real_rejected = tables.REJECTED
        tables.REJECTED = "mqtt.no_such_table"
        try:
            return real_publish(*args, **kwargs)
        finally:
            tables.REJECTED = real_rejected

    monkeypatch.setattr(loading, "publish", publish_failing_halfway)

    with pytest.raises(psycopg2.Error):
        load(spark, real_rows[0], real_rows[1], db_url, BASELINE_DAY)
    assert staging_tables(conn) == []
    assert snapshot(conn, BASELINE_DAY) == baseline


def test_a_row_lost_between_the_file_and_the_copy_is_caught(
    spark, db_url, conn, real_rows, baseline, monkeypatch
):
    """rows_read is Spark's own count of the input, so a row dropped on the way is a mismatch."""
    real_prepare = loading.prepare_rows
    first_train_row = real_rows[0].read_text().splitlines()[1]

    def prepare_rows_losing_one(*args):
        lost = F.col("source_file").endswith(real_rows[0].name) & (F.col("raw") == first_train_row)
        return [dataclasses.replace(rows, frame=rows.frame.where(~lost)) for rows in real_prepare(*args)]

    monkeypatch.setattr(loading, "prepare_rows", prepare_rows_losing_one)

    lost = r"lost or added between the files and the staging tables \(\S*/real_train_rows.csv: "
    with pytest.raises(loading.ReadBackMismatch, match=lost + "18 data lines read, 17 staged"):
        load(spark, real_rows[0], real_rows[1], db_url, BASELINE_DAY)
    assert staging_tables(conn) == []
    assert snapshot(conn, BASELINE_DAY) == baseline


def test_rows_read_counts_the_files_lines_not_what_the_load_sent(spark, db_url, conn, tmp_path, real_rows):
    """Headers and blank lines are not rows; every other line is read, loaded or rejected."""
    header, lines = read_rows(real_rows[0])
    train = write_csv(tmp_path / "train.csv", header, ["", lines[0], "", "not,a,row", *lines[1:], ""])
    result = load(spark, train, real_rows[1], db_url, date(2001, 2, 1))
    read = Counter({(split, Path(file).name): n for (split, file), n in result.read.items()})
    assert read == Counter({("train", "train.csv"): len(lines) + 1, ("test", real_rows[1].name): 2})
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (len(lines) + 3, len(lines) + 2, 1)
    assert batch_row(conn, date(2001, 2, 1))["rows_read"] == len(lines) + 3


def _leave_staging(url: str, day: date) -> set[str]:
    """What a load killed after creating its staging tables leaves: committed tables, no session."""
    killed = db.connect(url)
    try:
        names = loading._staging_names(day)
        with killed.cursor() as cur:
            for name, like in zip(names, (tables.PACKETS, tables.REJECTED), strict=True):
                cur.execute(f"CREATE TABLE {name} (LIKE {like})")
        killed.commit()
    finally:
        killed.close()
    return {name.split(".")[1] for name in names}


def test_staging_tables_of_killed_loads_are_dropped_and_a_running_load_keeps_its_own(
    spark, db_url, conn, real_rows
):
    day, other_day, running_day = date(2001, 3, 1), date(2001, 3, 2), date(2001, 3, 3)
    running = db.connect(db_url)  # a load of running_day that is still copying
    try:
        loading.lock_batch(running, running_day)
        busy = {name.split(".")[1] for name in loading.create_staging(running, running_day)}
        left = _leave_staging(db_url, day) | _leave_staging(db_url, other_day)
        assert set(staging_tables(conn)) == left | busy

        load(spark, real_rows[0], real_rows[1], db_url, day)
        assert set(staging_tables(conn)) == busy  # both killed loads' tables are gone, the live one's kept
    finally:
        running.close()
    load(spark, real_rows[0], real_rows[1], db_url, day)  # its lock died with its session
    assert staging_tables(conn) == []


def test_a_second_load_of_a_batch_being_loaded_is_refused(spark, db_url, conn, real_rows, baseline, run_cli):
    holder = db.connect(db_url)  # a load of BASELINE_DAY in progress
    try:
        loading.lock_batch(holder, BASELINE_DAY)
        busy = f"another load of batch {BASELINE_DAY} is running"
        with pytest.raises(loading.LoadInProgress, match=busy):
            load(spark, real_rows[0], real_rows[1], db_url, BASELINE_DAY)
        code, _, err = run_cli(
            "--train", str(real_rows[0]), "--test", str(real_rows[1]),
            "--db-url", db_url, "--batch-date", BASELINE_DAY.isoformat(),
        )  # fmt: skip
        assert code == 1 and busy in err
    finally:
        holder.close()
    assert snapshot(conn, BASELINE_DAY) == baseline
    assert staging_tables(conn) == []


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------
def test_cli_reports_what_it_loaded(db_url, conn, real_rows, run_cli):
    day = date(2001, 5, 1)
    header, train = read_rows(real_rows[0])
    _, test = read_rows(real_rows[1])
    total = len(train) + len(test)

    code, out, _ = run_cli(
        "--train", str(real_rows[0]), "--test", str(real_rows[1]),
        "--db-url", db_url, "--batch-date", day.isoformat(),
    )  # fmt: skip

    assert code == 0
    assert re.search(rf"batch {day}: read {total} rows, loaded {total}, rejected 0\b", out), out
    per_class = Counter(("train", r.rsplit(",", 1)[1]) for r in train)
    per_class += Counter(("test", r.rsplit(",", 1)[1]) for r in test)
    for (split, target), n in per_class.items():
        assert re.search(rf"^\s*{split}\s+{target}\s+{n}$", out, flags=re.M), (split, target, n, out)
    assert sum(stored_packets(conn, header, day).values()) == total


def test_cli_subprocess_fails_with_exit_code_and_message(db_url, conn, real_rows, tmp_path):
    """One real process: a missing input exits 1 with a one-line reason, no traceback."""
    day = date(2001, 5, 2)
    missing = tmp_path / "absent" / "train70.csv"

    failed = subprocess.run(
        [sys.executable, str(INGEST), "--train", str(missing), "--test", str(real_rows[1]),
         "--db-url", db_url, "--batch-date", day.isoformat()],
        capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
    )  # fmt: skip

    assert failed.returncode == 1, failed.stderr[-3000:]
    reasons = [line for line in failed.stderr.splitlines() if line.startswith("ingest failed:")]
    assert len(reasons) == 1, failed.stderr[-3000:]
    assert str(missing) in reasons[0] and "not found" in reasons[0], reasons[0]
    assert "Traceback" not in failed.stderr
    assert batch_row(conn, day) is None
