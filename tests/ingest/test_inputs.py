"""Every input kind end to end on real Spark and PostgreSQL: file spellings, captures, bad input.

Captures come from the session's corpus of genuine MQTT traffic (root conftest). The expected
values of a capture are an independent tshark export (tests/capture/exports.py) read with pandas
and filled like the MQTTset authors did (``fillna(0)``); those of a CSV variant are the values
the plain genuine file loads to. Each load has its own batch date.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import logging
import shutil
import subprocess
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from capture.exports import capinfos_packets, independent_export

from mqttids.capture import spark_convert, tshark
from mqttids.capture.corpus import Corpus
from mqttids.ingest import labels, loading, quality, sources
from mqttids.schema import COLUMNS, CSV_NAMES, FEATURES, Kind, column, number_value

FEATURE_NAMES = [column(n).name for n in FEATURES]


def resolve(spark, train: str, test: str | None, label_text: str = "") -> list[sources.Source]:
    label_map = labels.LabelMap.parse(label_text)
    given = [("train", train)] + ([("test", test)] if test else [])
    found = [sources.resolve(spark, split, uri, label_map) for split, uri in given]
    sources.check_label_map(found, label_map)
    return found


def packets(conn, day: date, where: str = "TRUE") -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM mqtt.packets WHERE batch_date = %s AND {where}", (day,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def batch_row(conn, day: date) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM mqtt.ingest_batches WHERE batch_date = %s", (day,))
        return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def typed(csv_name: str, text: str):
    """What a cell must load as, by the schema's reference spelling rules."""
    col = column(csv_name)
    if col.kind in (Kind.TEXT, Kind.LABEL):
        return text.strip().lower() if col.kind is Kind.LABEL else text
    value = number_value(text)
    return int(value) if col.kind in (Kind.HEX, Kind.INT) else value


@pytest.fixture()
def conn(db_conn):
    db_conn.autocommit = True
    return db_conn


# ---------------------------------------------------------------------------------------
# 1. Every spelling real files use, on the genuine rows
# ---------------------------------------------------------------------------------------
def genuine_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(CSV_NAMES)
    return [r for r in rows[1:] if r]


def write(path: Path, header: list[str], rows: list[list[str]], **writer) -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator=writer.pop("lineterminator", "\n"), **writer).writerows([header, *rows])
    path.write_text(out.getvalue(), encoding=writer.get("encoding", "utf-8"))
    return path


def variants(folder: Path, rows: list[list[str]]) -> dict[str, Path]:
    """The genuine train rows as real tools write them, one file each."""
    folder.mkdir()
    header = list(CSV_NAMES)
    hex_at = [i for i, n in enumerate(CSV_NAMES) if column(n).kind is Kind.HEX]
    made = {"plain": write(folder / "plain.csv", header, rows)}
    made["quoted"] = write(folder / "quoted.csv", header, rows, quoting=csv.QUOTE_ALL)
    order = list(reversed(range(len(header))))
    made["reordered_index"] = write(  # pandas' to_csv(index=True) of reordered columns
        folder / "reordered_index.csv",
        ["", *(header[i] for i in order)],
        [[str(n), *(row[i] for i in order)] for n, row in enumerate(rows)],
    )
    made["float_flags"] = write(
        folder / "float_flags.csv",
        header,
        [["0.0" if i in hex_at and t == "0" else t for i, t in enumerate(row)] for row in rows],
    )
    made["label_case"] = write(
        folder / "label_case.csv", header, [[*row[:-1], f" {row[-1].upper()} "] for row in rows]
    )
    crlf = folder / "crlf_bom.csv"
    write(crlf, header, rows, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    crlf.write_bytes("\ufeff".encode() + crlf.read_bytes())
    made["crlf_bom"] = crlf
    text = made["plain"].read_bytes()
    made["gzip"] = folder / "plain_gz.csv.gz"
    made["gzip"].write_bytes(gzip.compress(text))
    made["bzip2"] = folder / "plain_bz.csv.bz2"
    made["bzip2"].write_bytes(bz2.compress(text))
    return made


def test_every_spelling_loads_to_the_plain_files_values(spark, db_url, conn, tmp_path, real_rows, caplog):
    day = date(2002, 1, 1)
    rows = genuine_rows(real_rows[0])
    made = variants(tmp_path / "variants", rows)
    caplog.set_level(logging.WARNING, logger="mqttids.ingest.sources")

    result = loading.load_batch(
        spark, resolve(spark, f"{tmp_path}/variants/*", str(real_rows[1])), db_url, day
    )

    assert result.rows_rejected == 0
    assert result.rows_loaded == len(rows) * len(made) + len(genuine_rows(real_rows[1]))
    want = Counter(tuple(typed(n, t) for n, t in zip(CSV_NAMES, row, strict=True)) for row in rows)
    by_file: dict[str, Counter] = {}
    for packet in packets(conn, day, "split = 'train'"):
        by_file.setdefault(Path(packet["source_file"]).name, Counter())[
            tuple(packet[c.name] for c in COLUMNS)
        ] += 1
    assert sorted(by_file) == sorted(p.name for p in made.values())
    for name, got in by_file.items():
        assert got == want, name
    assert "reordered_index.csv: ignoring columns (unnamed column 1)" in caplog.text


def test_a_missing_column_is_an_error_naming_it_and_the_file(spark, tmp_path, real_rows):
    rows = genuine_rows(real_rows[0])
    drop = CSV_NAMES.index("mqtt.hdrflags")
    path = write(
        tmp_path / "cut.csv",
        [n for i, n in enumerate(CSV_NAMES) if i != drop],
        [[t for i, t in enumerate(r) if i != drop] for r in rows],
    )
    with pytest.raises(sources.SourceError, match=r"cut\.csv.*lacks the column mqtt\.hdrflags"):
        resolve(spark, str(path), str(real_rows[1]))


def test_a_zip_is_refused_listing_what_is_inside(spark, tmp_path, real_rows):
    path = tmp_path / "mqttset.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(real_rows[0], "Data/FINAL_CSV/train70.csv")
        archive.write(real_rows[1], "Data/FINAL_CSV/test30.csv")
    with pytest.raises(sources.SourceError) as raised:
        resolve(spark, str(path), str(real_rows[1]))
    message = str(raised.value)
    assert "ZIP archive" in message and "2 files" in message
    assert "Data/FINAL_CSV/train70.csv" in message and "Data/FINAL_CSV/test30.csv" in message


def test_compressed_file_without_its_suffix_says_how_to_name_it(spark, tmp_path, real_rows):
    path = tmp_path / "train70.csv"
    path.write_bytes(gzip.compress(real_rows[0].read_bytes()))
    with pytest.raises(sources.SourceError, match=r"train70\.csv is compressed with gzip \(name it \.gz\)"):
        resolve(spark, str(path), str(real_rows[1]))


# ---------------------------------------------------------------------------------------
# 2. Captures and per-class CSVs, with their connections
# ---------------------------------------------------------------------------------------
CORPUS_DAY = date(2002, 2, 1)


@pytest.fixture(scope="module")
def corpus_batch(spark, db_url, corpus: Corpus) -> loading.LoadResult:
    """The whole corpus, train and test captures, loaded once for this module."""
    folder = corpus.directory
    found = resolve(spark, f"{folder}/*-train.pcap", f"{folder}/*-test.pcap")
    return loading.load_batch(spark, found, db_url, CORPUS_DAY)


def expected_export(capture: str, port: int) -> dict[tuple[int, int], tuple]:
    """(tcp.stream, position in it) -> (capture time, 33 features), from tshark run by hand."""
    frame = independent_export(capture, port)
    frame["_pos"] = frame.groupby("tcp.stream").cumcount() + 1  # frames come in frame.number order
    out = {}
    for _, row in frame.iterrows():
        cells = [row[n] if row[n] != "" else "0" for n in FEATURES]  # the authors' fillna(0)
        values = tuple(typed(n, t) for n, t in zip(FEATURES, cells, strict=True))
        out[(int(row["tcp.stream"]), int(row["_pos"]))] = (float(row["frame.time_epoch"]), values)
    return out


def test_captures_load_as_the_independent_export_cell_for_cell(corpus_batch, conn, corpus):
    assert corpus_batch.rows_rejected == 0
    batch = batch_row(conn, CORPUS_DAY)
    assert batch["truncated_files"] == []
    stored = packets(conn, CORPUS_DAY)
    for capture in corpus.files:
        mine = [p for p in stored if p["source_file"].endswith("/" + Path(capture.path).name)]
        assert len(mine) == capinfos_packets(capture.path) > 0, capture.path
        assert {p["target"] for p in mine} == {capture.label}
        assert {p["split"] for p in mine} == {capture.split}
        number = batch["sources"].index(mine[0]["source_file"])
        got = {}
        for p in mine:
            assert p["connection_id"] >> 32 == number  # the file's place in ingest_batches.sources
            stream = p["connection_id"] & 0xFFFFFFFF
            got[(stream, p["connection_seq"])] = (
                p["capture_time"].timestamp(),
                tuple(p[n] for n in FEATURE_NAMES),
            )
        want = expected_export(capture.path, corpus.mqtt_port)
        assert got.keys() == want.keys(), capture.path
        for key, (when, values) in want.items():
            assert got[key][1] == values, (capture.path, key)
            assert got[key][0] == pytest.approx(when, abs=1e-6)
        assert len({stream for stream, _ in got}) == capture.connections


def test_connection_ids_are_unique_across_the_batch(corpus_batch, conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT connection_id FROM mqtt.packets WHERE batch_date = %s "
            "GROUP BY 1 HAVING count(DISTINCT source_file) > 1) AS shared",
            (CORPUS_DAY,),
        )
        assert cur.fetchone()[0] == 0


def test_the_corpus_batch_passes_the_quality_gate(corpus_batch, conn):
    report = quality.check_batch(conn, CORPUS_DAY, 0.0)
    assert report.failures == [] and report.notes == []


def test_per_class_csvs_load_beside_mqttset_files(spark, db_url, conn, tmp_path, corpus, real_rows):
    """The authors' per-class CSV (60 tshark fields, no target) with the train/test CSV, mixed."""
    day = date(2002, 2, 2)
    folder = tmp_path / "mixed"
    folder.mkdir()
    flood = next(f for f in corpus.files if f.label == "flood" and f.split == "train")
    conversion = tshark.convert(flood.path, folder / "capture_flood.csv", [corpus.mqtt_port])
    shutil.copy(real_rows[0], folder / "train70.csv")

    result = loading.load_batch(spark, resolve(spark, f"{folder}/*.csv", str(real_rows[1])), db_url, day)

    assert result.rows_rejected == 0
    assert result.loaded[("train", "flood")] == conversion.packets
    flood_rows = packets(conn, day, "source_file LIKE '%%capture_flood.csv'")
    assert len(flood_rows) == conversion.packets
    assert all(p["connection_id"] is not None and p["capture_time"] is not None for p in flood_rows)
    plain = packets(conn, day, "source_file NOT LIKE '%%capture_flood.csv'")
    assert len(plain) == len(genuine_rows(real_rows[0])) + len(genuine_rows(real_rows[1]))
    assert all(p["connection_id"] is None and p["connection_seq"] is None for p in plain)


def test_split_by_connection_keeps_each_connection_on_one_side(db_url, conn, corpus, run_cli):
    day = date(2002, 2, 3)
    code, out, err = run_cli(
        "--train", f"{corpus.directory}/*-train.pcap", "--split-by", "connection",
        "--batch-date", day.isoformat(), "--db-url", db_url,
    )  # fmt: skip
    assert code == 0, err
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT connection_id FROM mqtt.packets WHERE batch_date = %s "
            "GROUP BY 1 HAVING count(DISTINCT split) > 1) AS both_sides",
            (day,),
        )
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT split, count(*) FROM mqtt.packets WHERE batch_date = %s GROUP BY 1", (day,))
        sizes = dict(cur.fetchall())
    assert sizes["train"] > sizes["test"] > 0
    assert "capture" in out and "-train.pcap" in out


# ---------------------------------------------------------------------------------------
# 3. Captures that are odd: cut short, unlabelled, without MQTT; and the label map
# ---------------------------------------------------------------------------------------
def test_truncated_unlabelled_and_mqtt_less_captures(spark, db_url, conn, tmp_path, corpus, caplog):
    day = date(2002, 3, 1)
    train, test = tmp_path / "site", tmp_path / "elsewhere"
    train.mkdir(), test.mkdir()
    shutil.copy(Path(corpus.directory) / "corpus.json", train)  # the broker port, for these two
    by_name = {Path(f.path).stem: f.path for f in corpus.files}
    whole = Path(by_name["legitimate-train"]).read_bytes()
    cut = train / "truncated-site.pcap"
    cut.write_bytes(whole[: len(whole) - 40])  # mid-packet
    shutil.copy(by_name["legitimate-test"], train / "mybroker.pcap")  # matches no class
    shutil.copy(by_name["dos-test"], test / "noport.pcap")  # no corpus.json: port unknown
    caplog.set_level(logging.WARNING, logger="mqttids.ingest.loading")

    found = resolve(spark, f"{train}/*.pcap", f"{test}/*.pcap", "truncated=legitimate,noport=dos")
    result = loading.load_batch(spark, found, db_url, day)

    # tshark by hand: it exits 2 on the cut, after printing every packet before it.
    listed = subprocess.run(
        ["tshark", "-r", str(cut), "-T", "fields", "-e", "frame.number"], capture_output=True
    )
    assert listed.returncode == 2 and b"cut short" in listed.stderr
    expected_cut = len(listed.stdout.splitlines())
    assert 0 < expected_cut < capinfos_packets(by_name["legitimate-train"])
    assert result.rows_rejected == 0
    assert result.loaded[("train", "legitimate")] == expected_cut
    assert result.loaded[("train", "")] == capinfos_packets(by_name["legitimate-test"])
    assert batch_row(conn, day)["truncated_files"] == [
        next(f for f in found[0].files if f.endswith("truncated-site.pcap"))
    ]
    assert "truncated-site.pcap is truncated" in caplog.text
    unlabelled = packets(conn, day, "source_file LIKE '%%mybroker.pcap'")
    assert unlabelled and {p["target"] for p in unlabelled} == {None}
    noport = packets(conn, day, "source_file LIKE '%%noport.pcap'")
    assert len(noport) == capinfos_packets(by_name["dos-test"])
    assert {p["mqtt_msgtype"] for p in noport} == {0} and {p["target"] for p in noport} == {"dos"}

    with pytest.raises(quality.QualityGateFailed) as failed:
        quality.check_batch(conn, day, 0.0)
    message = str(failed.value)
    assert f"noport.pcap holds no MQTT: its {len(noport):,} TCP packets loaded" in message
    assert "mybroker" not in message and f"{len(unlabelled):,} packets are unlabelled" in message


def test_a_file_that_is_not_a_capture(spark, tmp_path, real_rows):
    path = tmp_path / "capture_flood.pcap"
    path.write_bytes(b"this is a text file, not a capture\n" * 10)
    with pytest.raises(sources.SourceError, match=r"capture_flood\.pcap is named like a capture but is not"):
        resolve(spark, str(path), str(real_rows[1]))


def test_a_capture_matching_two_classes_is_an_error(spark, tmp_path, corpus, real_rows):
    path = tmp_path / "flood_then_dos.pcap"
    shutil.copy(corpus.files[0].path, path)
    with pytest.raises(sources.SourceError, match=r"flood_then_dos\.pcap matches two classes.*dos.*flood"):
        resolve(spark, str(path), str(real_rows[1]))


def test_a_label_map_matching_no_file_is_an_error(spark, corpus, real_rows):
    with pytest.raises(sources.SourceError, match=r"label map office=dos matches none of the files"):
        resolve(spark, f"{corpus.directory}/*-train.pcap", str(real_rows[1]), "office=dos")


def test_a_malformed_label_map_is_an_error():
    with pytest.raises(labels.LabelMapError, match="'office' is not pattern=class"):
        labels.LabelMap.parse("office")
    with pytest.raises(labels.LabelMapError, match="'office=ddos'"):
        labels.LabelMap.parse("office=ddos")


def test_the_default_label_map_knows_the_mqttset_names():
    default = labels.LabelMap.parse(None)
    names = {
        "capture_1w.pcap": "legitimate",
        "legitimate_1w.csv": "legitimate",
        "Benign-office.PCAPNG": "legitimate",
        "capture_malariaDoS.pcap": "dos",
        "bruteforce.pcapng": "bruteforce",
        "capture_flood.pcap": "flood",
        "malformed.pcap": "malformed",
        "SLOWITE.pcap": "slowite",
        "capture_custom_1h.pcap": None,
    }
    assert {name: default.label(f"gs://bucket/Data/PCAP/{name}") for name in names} == names


def test_a_glob_matching_nothing_is_an_error(spark, tmp_path, real_rows):
    with pytest.raises(
        sources.SourceError, match=r"train file not found: .*/\*\.pcap \(the path or glob matches no file\)"
    ):
        resolve(spark, f"{tmp_path}/*.pcap", str(real_rows[1]))


def test_tshark_missing_says_how_to_install_it(spark, db_url, corpus, real_rows, tmp_path, monkeypatch):
    found = resolve(spark, corpus.files[0].path, str(real_rows[1]))
    monkeypatch.setenv("PATH", str(tmp_path))  # the driver's PATH: no tshark on it
    with pytest.raises(tshark.TsharkMissing, match="apt-get install tshark"):
        loading.load_batch(spark, found, db_url, date(2002, 3, 2))


def test_a_conversion_error_in_a_task_fails_naming_the_file(spark, tmp_path):
    path = tmp_path / "gone.pcap"
    with pytest.raises(spark_convert.CaptureError, match=r"gone\.pcap: .*"):
        spark_convert.convert(spark, [("train", str(path), [1883])])


def test_the_manifest_port_is_used(spark, corpus, real_rows):
    found = resolve(spark, f"{corpus.directory}/*-train.pcap", str(real_rows[1]))
    ports = sources.mqtt_ports(spark, found, [1883])
    assert set(ports) == set(found[0].files)
    assert set(map(tuple, ports.values())) == {tuple(sorted({1883, corpus.mqtt_port}))}
    assert json.loads((Path(corpus.directory) / "corpus.json").read_text())["mqtt_port"] == corpus.mqtt_port
