"""Every spelling real files use, on genuine MQTTset rows, parsed by the Spark expressions.

Each case rewrites the genuine rows (``real_rows``) the way a real tool would (pandas' float
columns, tshark's short hex, RFC 4180 quoting, another column order, extra columns) and asserts
that every row parses to exactly the values of the plain file, with nothing rejected.
"""

from __future__ import annotations

import csv
import io

import pytest

from mqttids.ingest import parsing
from mqttids.schema import COLUMNS, CSV_NAMES, NAMES, Header, Kind, number_value, read_header

INTEGRAL = [c for c in COLUMNS if c.kind in (Kind.HEX, Kind.INT)]
FLOATS = [c for c in COLUMNS if c.kind is Kind.FLOAT]


def spellings(value: int) -> list[str]:
    """Every way real files write this integer (pandas, tshark 4, the published files, by hand)."""
    return [
        str(value),
        f"{value}.0",
        f"0x{value:x}",
        f"0x{value:02X}",
        f"0x{value:04x}",
        f"0x{value:08x}",
        f"{value}e0",
        f"{value / 10}E1",
    ]


@pytest.fixture(scope="module")
def genuine(real_rows) -> list[list[str]]:
    rows = []
    for path in real_rows:
        with open(path, encoding="utf-8") as handle:
            reader = csv.reader(handle)
            assert next(reader) == list(CSV_NAMES)
            rows += [row for row in reader if row]
    return rows


def run(spark, lines: list[str], header: Header = parsing.MQTTSET_HEADER) -> list:
    spark.conf.set("spark.sql.codegen.wholeStage", "false")
    frame = spark.createDataFrame([(i, line) for i, line in enumerate(lines)], "i int, raw string")
    return sorted(parsing.parse(frame, "raw", keep=["i"], header=header).collect(), key=lambda r: r["i"])


def values(rows) -> list[tuple]:
    for row in rows:
        assert row[parsing.REASON] is None, (row["raw"], row[parsing.REASON])
    return [tuple(row[n] for n in NAMES) for row in rows]


@pytest.fixture(scope="module")
def plain(spark, genuine) -> list[tuple]:
    return values(run(spark, [",".join(r) for r in genuine]))


def test_plain_genuine_rows_match_the_text(plain, genuine) -> None:
    for typed, row in zip(plain, genuine, strict=True):
        for col, value, text in zip(COLUMNS, typed, row, strict=True):
            if col.kind in (Kind.TEXT, Kind.LABEL):
                assert value == text
            else:
                assert value == number_value(text), (col.csv_name, text)


def test_integral_values_in_any_spelling_are_the_same_integer_in_every_column(spark, genuine) -> None:
    base = genuine[0]
    lines, wanted = [], []
    for col in INTEGRAL + FLOATS:
        value = 1 if (col.hi or 24) < 24 else 24
        for text in spellings(value):
            row = list(base)
            row[CSV_NAMES.index(col.csv_name)] = text
            lines.append(",".join(row))
            wanted.append((col.name, text, value))
    for row, (name, text, value) in zip(run(spark, lines), wanted, strict=True):
        assert row[parsing.REASON] is None, (name, text, row[parsing.REASON])
        assert row[name] == value and float(row[name]).is_integer(), (name, text, row[name])


@pytest.mark.parametrize("column", ["mqtt.conflags", "mqtt.dupflag", "tcp.len", "tcp.flags"])
def test_a_non_integral_value_in_an_integer_column_gets_a_reason(spark, genuine, column) -> None:
    row = list(genuine[0])
    row[CSV_NAMES.index(column)] = "0.5"
    (parsed,) = run(spark, [",".join(row)])
    assert parsed[parsing.REASON] == f"{column.replace('.', '_')}: not an integer '0.5'"


def test_pandas_float_spelling_of_every_flag_loads(spark, genuine, plain) -> None:
    """What fillna(0) writes for a column empty throughout a capture: 0.0, also in hex columns."""
    hex_at = [i for i, c in enumerate(COLUMNS) if c.kind is Kind.HEX]
    lines = []
    for row in genuine:
        lines.append(",".join("0.0" if i in hex_at and text == "0" else text for i, text in enumerate(row)))
    assert values(run(spark, lines)) == plain


def test_rfc4180_quoting_round_trips(spark, genuine, plain) -> None:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(genuine)
    assert values(run(spark, out.getvalue().splitlines())) == plain
    mixed = [",".join(f'"{t}"' if i % 3 == 0 else t for i, t in enumerate(row)) for row in genuine]
    assert values(run(spark, mixed)) == plain


def test_doubled_quotes_inside_a_quoted_field_are_one_quote(spark, genuine) -> None:
    row = list(genuine[0])
    msg = CSV_NAMES.index("mqtt.msg")
    row[msg] = 'say "hi", then, leave'
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    assert '""hi""' in out.getvalue()
    (parsed,) = run(spark, [out.getvalue()])
    assert parsed[parsing.REASON] is None and parsed["mqtt_msg"] == 'say "hi", then, leave'


@pytest.mark.parametrize("text", ['3"2', '32"', '3""2'])
def test_stray_quotes_are_kept_as_written_like_pythons_csv(spark, genuine, text) -> None:
    row = list(genuine[0])
    row[CSV_NAMES.index("mqtt.msg")] = text
    line = ",".join(row)
    (parsed,) = run(spark, [line])
    assert parsed[parsing.REASON] is None
    assert parsed["mqtt_msg"] == next(csv.reader([line]))[CSV_NAMES.index("mqtt.msg")]


def test_any_column_order_round_trips(spark, genuine, plain) -> None:
    order = list(reversed(range(len(CSV_NAMES))))
    header = Header(tuple(CSV_NAMES[i] for i in order))
    lines = [",".join(row[i] for i in order) for row in genuine]
    assert values(run(spark, lines, header)) == plain


def test_extra_columns_are_ignored(spark, genuine, plain) -> None:
    """pandas' unnamed index in front, an unknown column in the middle."""
    names = ["", *CSV_NAMES[:5], "frame.len", *CSV_NAMES[5:]]
    header = read_header(",".join(names))
    assert header.extra == ("(unnamed column 1)", "frame.len")
    lines = [",".join([str(i), *row[:5], "74", *row[5:]]) for i, row in enumerate(genuine)]
    assert values(run(spark, lines, header)) == plain


def test_empty_cells_read_as_absent_only_when_asked(spark, genuine) -> None:
    row = list(genuine[0])
    row[CSV_NAMES.index("mqtt.conflags")] = ""
    row[CSV_NAMES.index("mqtt.msg")] = ""
    line = ",".join(row)
    (strict,) = run(spark, [line])
    assert strict[parsing.REASON] == "mqtt_conflags: empty value"
    frame = spark.createDataFrame([(line,)], "raw string")
    (filled,) = parsing.parse(frame, "raw", keep=[], fill_empty=True).collect()
    assert filled[parsing.REASON] is None
    assert (filled["mqtt_conflags"], filled["mqtt_msg"]) == (0, "0")


def test_number_value_is_the_reference_for_every_spelling() -> None:
    for value in (0, 1, 24, 255):
        assert {number_value(t) for t in spellings(value)} == {float(value)}
    for text in ("0x", "0xg", "1_0", "8d", "0x1p3", "", "ten"):
        assert number_value(text) is None
