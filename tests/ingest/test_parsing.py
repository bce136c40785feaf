"""Tests of :mod:`mqttids.ingest.parsing` on a real local Spark session.

Every case starts from a genuine MQTTset row (tests/fixtures/mqttset/real_train_rows.csv) with
one cell changed. All cases are parsed in one Spark job (a module fixture) and each test
looks its line up. Expected values are computed here with plain Python from the cell text
(``int(x, 16)`` for hex flags, ``float(x)`` for numbers, the text itself for text).
"""

from __future__ import annotations

import math
import re

import pytest
from fixtures import REAL_FILES
from pyspark.sql import types as T

from mqttids.ingest import parsing
from mqttids.schema import COLUMNS, CSV_NAMES, LABELS

# From the README: four hex flag columns, verbatim text, the label; the rest numeric.
HEX = {"tcp.flags", "mqtt.conack.flags", "mqtt.conflags", "mqtt.hdrflags"}
TEXT = {"mqtt.msg", "mqtt.protoname", "target"}
TABLE = {name: name.replace(".", "_") for name in CSV_NAMES}

REAL_LINES = [line for path in REAL_FILES for line in path.read_text().splitlines()[1:] if line]
BASE = REAL_LINES[0]  # 0x00000018,0.998867,10,...,legitimate
BASE_CELLS = BASE.split(",")
assert len(BASE_CELLS) == 34


def mutate(name: str, text: str, base: str = BASE) -> str:
    """The base line with one cell (by file column name) replaced."""
    cells = base.split(",")
    cells[CSV_NAMES.index(name)] = text
    return ",".join(cells)


def expected(name: str, text: str):
    """What a valid cell must parse to, computed independently of the code."""
    text = text.strip()
    if name in TEXT:
        return text.lower() if name == "target" else text
    if text.lower().startswith("0x"):
        return int(text, 16)
    return int(text) if name in HEX else float(text)


# ---------------------------------------------------------------------------------------
# Cases: (column, cell text)
# ---------------------------------------------------------------------------------------
VALID_HEX = [
    ("tcp.flags", "0x00000018"),
    ("tcp.flags", "0x0018"),
    ("tcp.flags", "0x18"),
    ("tcp.flags", "0X18"),
    ("tcp.flags", "24"),
    ("tcp.flags", "0"),
    ("tcp.flags", "0x00000002"),
    ("tcp.flags", "0xfff"),  # 12-bit maximum
    ("tcp.flags", "0x0000000000000018"),  # zero-padded wider than 8 digits: same value
    ("mqtt.conack.flags", "0x00000000"),
    ("mqtt.conflags", "0xC2"),
    ("mqtt.conflags", "0xc2"),
    ("mqtt.conflags", "0x82"),
    ("mqtt.hdrflags", "0x3a"),
    ("mqtt.hdrflags", "0xe0"),
    ("mqtt.hdrflags", "0xff"),
]
INVALID_HEX = [
    ("tcp.flags", "0xzz"),
    ("tcp.flags", "0x"),
    ("tcp.flags", "-0x1"),
    ("tcp.flags", "1.5"),
    ("tcp.flags", "x18"),
    ("tcp.flags", "0x18h"),
    ("tcp.flags", "0x 18"),
    ("mqtt.hdrflags", "0xg0"),
]
VALID_NUMBERS = [
    ("tcp.time_delta", "0.0"),
    ("tcp.time_delta", "6.7E-5"),
    ("tcp.time_delta", "2.4064e-05"),
    ("tcp.time_delta", "-0.000002"),  # genuine minimum: clock jitter
    ("tcp.time_delta", "-2.0E-6"),
    ("tcp.time_delta", "1.0E-6"),
    ("tcp.time_delta", "60.000878"),
    ("tcp.time_delta", "0.998867"),
    ("tcp.len", "8.0"),
    ("tcp.len", "10"),
    ("tcp.len", "0.0"),
    ("tcp.len", "32768"),  # README maximum
    ("tcp.len", "1e3"),
    ("tcp.len", "0x10"),  # tshark writes some counts in hex; same integer in any column
    ("mqtt.msgid", "2800.0"),
    ("mqtt.kalive", "65535.0"),
    ("mqtt.len", "692.0"),
    ("mqtt.len", "268435455"),  # MQTT's variable-length maximum
    ("mqtt.msgtype", "14.0"),
    ("mqtt.conack.val", "5.0"),
    ("mqtt.willmsg", "0.0"),
]
NOT_INTEGER = [
    ("tcp.len", "8.5"),
    ("mqtt.msgid", "2800.5"),
    ("mqtt.dupflag", "0.5"),
    ("mqtt.kalive", "1e-3"),
]
NOT_FINITE = [
    ("tcp.time_delta", "NaN"),
    ("tcp.time_delta", "Infinity"),
    ("tcp.time_delta", "-Infinity"),
    ("tcp.time_delta", "inf"),
    ("tcp.len", "NaN"),
    ("tcp.len", "Infinity"),
    ("mqtt.willmsg", "NaN"),
    ("mqtt.willmsg", "Infinity"),
    ("mqtt.willtopic", "-Infinity"),
]
OUT_OF_RANGE = [
    ("tcp.len", "65536"),
    ("tcp.len", "-1"),
    ("tcp.len", "-1.0"),
    ("tcp.len", "1e20"),  # integral, just far too big
    ("tcp.time_delta", "-2.5"),
    ("mqtt.msgtype", "16.0"),
    ("mqtt.dupflag", "2.0"),
    ("mqtt.conack.val", "256.0"),
    ("mqtt.kalive", "1e5"),
    ("mqtt.len", "268435456"),
    ("tcp.flags", "0x1000"),  # 4096: wider than TCP's 12 flag bits
    ("mqtt.hdrflags", "0x100"),  # 256: not a byte
]
NOT_A_NUMBER = [
    ("tcp.len", "ten"),
    ("tcp.len", "1_000"),
    ("tcp.len", "0x1g"),
    ("tcp.len", "0x"),
    ("tcp.time_delta", "--1"),
    # Java's Double.parseDouble accepts these; they are not numbers in a CSV.
    ("tcp.len", "8d"),
    ("tcp.len", "8D"),
    ("tcp.time_delta", "1.5f"),
    ("tcp.time_delta", "0x1p3"),
]
EMPTY = [
    ("tcp.flags", ""),
    ("tcp.len", ""),
    ("tcp.time_delta", ""),
    ("mqtt.msg", ""),
    ("mqtt.protoname", ""),
    ("target", ""),
    ("tcp.len", "   "),
]
CASED_LABELS = ["Legitimate", "DOS", " Flood ", "SLOWITE"]
UNKNOWN_LABELS = ["ddos", "attack", "dos;", "0", "legitimate."]
MSG_VERBATIM = [
    "323939.0",
    "32",
    "0",
    "2f2f2f2f",
    b"mosquitto version 1.6.9".hex(),
    "1e400",  # would be infinity as a double
    "Infinity",
    "3.0E2",
]
WHITESPACE = [
    ("tcp.flags", " 0x18 "),
    ("tcp.flags", "  0x00000010"),
    ("tcp.len", " 8.0 "),
    ("tcp.time_delta", " -0.000002"),
    ("target", "dos "),
    ("target", " legitimate"),
]
WRONG_COUNTS = [
    ",".join(BASE_CELLS[:-1]),  # 33
    BASE + ",0",  # 35
    BASE + ",",  # 35, trailing comma
    BASE + "," + BASE,  # 68
    "garbage",  # 1
    "",  # 1
    ",".join(BASE_CELLS[:10]),  # 10
]
TWO_ERRORS = mutate("target", "ddos", mutate("tcp.flags", "0xzz"))
CR_LINE = BASE + "\r"
LONG_BAD = mutate("tcp.len", "9" * 100)


def all_lines() -> list[str]:
    groups = (VALID_HEX, INVALID_HEX, VALID_NUMBERS, NOT_INTEGER, NOT_FINITE, OUT_OF_RANGE, NOT_A_NUMBER)
    lines = [mutate(name, text) for group in groups for name, text in group]
    lines += [mutate(name, text) for name, text in EMPTY + WHITESPACE]
    lines += [mutate("target", label) for label in list(LABELS) + CASED_LABELS + UNKNOWN_LABELS]
    lines += [mutate("mqtt.msg", msg) for msg in MSG_VERBATIM]
    lines += [mutate("mqtt.protoname", "MQTT")]
    lines += REAL_LINES + WRONG_COUNTS + [TWO_ERRORS, CR_LINE, LONG_BAD]
    return list(dict.fromkeys(lines))  # unique: results are looked up by line


@pytest.fixture(scope="module")
def parsed(spark) -> dict:
    """line -> parsed Row, for every case, from one Spark job."""
    previous = spark.conf.get("spark.sql.codegen.wholeStage")
    spark.conf.set("spark.sql.codegen.wholeStage", "false")  # 34 columns: much faster to compile
    try:
        df = spark.createDataFrame([(line,) for line in all_lines()], "raw string")
        rows = parsing.parse(df, "raw", keep=[]).collect()
    finally:
        spark.conf.set("spark.sql.codegen.wholeStage", previous)
    return {row["raw"]: row for row in rows}


def parse_one(parsed: dict, line: str):
    assert line in parsed, "case missing from the parsed batch"
    return parsed[line]


def assert_rejected(row, column: str, text: str) -> str:
    reason = row[parsing.REASON]
    assert reason is not None, f"{column}={text!r} was accepted"
    assert TABLE[column] in reason, f"reason does not name the column: {reason!r}"
    assert f"'{text.strip()}'" in reason, f"reason does not show the value: {reason!r}"
    return reason


# ---------------------------------------------------------------------------------------
# Genuine rows
# ---------------------------------------------------------------------------------------
def test_every_genuine_row_parses_to_its_values(parsed):
    assert len(REAL_LINES) == 20
    for line in REAL_LINES:
        row = parse_one(parsed, line)
        assert row[parsing.REASON] is None, f"genuine row rejected: {row[parsing.REASON]}"
        for name, text in zip(CSV_NAMES, line.split(","), strict=True):
            assert row[TABLE[name]] == expected(name, text), (name, text, row[TABLE[name]])


def test_genuine_flag_and_count_columns_are_integers(parsed):
    row = parse_one(parsed, BASE)
    for name in HEX | {"tcp.len", "mqtt.len", "mqtt.msgtype"}:
        assert isinstance(row[TABLE[name]], int), name
    assert isinstance(row["tcp_time_delta"], float)
    assert row["tcp_flags"] == 0x18 and row["mqtt_hdrflags"] == 0x30 and row["mqtt_len"] == 8


# ---------------------------------------------------------------------------------------
# Hex flags
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "text"), VALID_HEX, ids=[f"{c}={t}" for c, t in VALID_HEX])
def test_hex_is_parsed_by_value_whatever_its_width(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    assert row[parsing.REASON] is None, row[parsing.REASON]
    assert row[TABLE[column]] == expected(column, text)


def test_hex_widths_agree(parsed):
    values = {
        parse_one(parsed, mutate("tcp.flags", t))["tcp_flags"] for t in ("0x00000018", "0x0018", "0x18")
    }
    assert values == {24}


@pytest.mark.parametrize(("column", "text"), INVALID_HEX, ids=[f"{c}={t}" for c, t in INVALID_HEX])
def test_invalid_hex_is_rejected(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    assert_rejected(row, column, text)
    assert row[TABLE[column]] is None


# ---------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "text"), VALID_NUMBERS, ids=[f"{c}={t}" for c, t in VALID_NUMBERS])
def test_numbers_in_mqttset_notation_are_accepted(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    assert row[parsing.REASON] is None, row[parsing.REASON]
    assert row[TABLE[column]] == expected(column, text)


def test_negative_time_delta_keeps_its_sign(parsed):
    row = parse_one(parsed, mutate("tcp.time_delta", "-0.000002"))
    assert row[parsing.REASON] is None
    assert row["tcp_time_delta"] == -0.000002 < 0


def test_integral_float_text_becomes_an_integer(parsed):
    row = parse_one(parsed, mutate("tcp.len", "8.0"))
    assert row["tcp_len"] == 8 and isinstance(row["tcp_len"], int)
    row = parse_one(parsed, mutate("mqtt.msgid", "2800.0"))
    assert row["mqtt_msgid"] == 2800 and isinstance(row["mqtt_msgid"], int)


@pytest.mark.parametrize(("column", "text"), NOT_INTEGER, ids=[f"{c}={t}" for c, t in NOT_INTEGER])
def test_fractional_value_in_integer_column_is_rejected(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    reason = assert_rejected(row, column, text)
    assert "integer" in reason
    assert row[TABLE[column]] is None


@pytest.mark.parametrize(("column", "text"), NOT_FINITE, ids=[f"{c}={t}" for c, t in NOT_FINITE])
def test_nan_and_infinity_are_rejected(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    assert_rejected(row, column, text)
    assert row[TABLE[column]] is None


@pytest.mark.parametrize(("column", "text"), OUT_OF_RANGE, ids=[f"{c}={t}" for c, t in OUT_OF_RANGE])
def test_out_of_range_values_are_rejected_with_column_and_value(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    reason = assert_rejected(row, column, text)
    assert "outside" in reason, f"an integral value out of range should be reported as such: {reason!r}"
    assert row[TABLE[column]] is None


@pytest.mark.parametrize(
    ("column", "text", "bound"), [("tcp.len", "65536", 65535), ("mqtt.len", "268435456", 268435455)]
)
def test_out_of_range_reason_states_the_exact_bound(parsed, column, text, bound):
    reason = parse_one(parsed, mutate(column, text))[parsing.REASON]
    assert reason is not None
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", reason.split("'")[0])]
    assert bound in numbers, f"reason should state the bound {bound}: {reason!r}"


@pytest.mark.parametrize(("column", "text"), NOT_A_NUMBER, ids=[f"{c}={t}" for c, t in NOT_A_NUMBER])
def test_text_that_is_not_a_plain_number_is_rejected(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    assert_rejected(row, column, text)
    assert row[TABLE[column]] is None


# ---------------------------------------------------------------------------------------
# Empty cells, column counts, labels
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("column", "text"), EMPTY, ids=[f"{c}={t!r}" for c, t in EMPTY])
def test_empty_cells_are_rejected(parsed, column, text):
    reason = parse_one(parsed, mutate(column, text))[parsing.REASON]
    assert reason is not None
    assert TABLE[column] in reason and "empty" in reason


@pytest.mark.parametrize("line", WRONG_COUNTS, ids=lambda s: f"{len(s.split(','))}-fields")
def test_wrong_column_count_is_rejected_with_the_count(parsed, line):
    count = len(line.split(","))
    reason = parse_one(parsed, line)[parsing.REASON]
    assert reason is not None
    assert "column" in reason.lower()
    assert re.search(rf"\b{count}\b", reason), f"count {count} not in {reason!r}"
    assert re.search(r"\b34\b", reason), f"expected count not in {reason!r}"


@pytest.mark.parametrize("label", LABELS)
def test_each_label_is_accepted(parsed, label):
    row = parse_one(parsed, mutate("target", label))
    assert row[parsing.REASON] is None
    assert row["target"] == label


@pytest.mark.parametrize("label", CASED_LABELS)
def test_labels_are_matched_case_insensitively_and_trimmed(parsed, label):
    row = parse_one(parsed, mutate("target", label))
    assert row[parsing.REASON] is None
    assert row["target"] == label.strip().lower()


@pytest.mark.parametrize("label", UNKNOWN_LABELS)
def test_unknown_labels_are_rejected(parsed, label):
    assert_rejected(parse_one(parsed, mutate("target", label)), "target", label)


def test_first_error_in_file_order_is_the_reason(parsed):
    reason = parse_one(parsed, TWO_ERRORS)[parsing.REASON]
    assert reason is not None
    assert "tcp_flags" in reason and "'0xzz'" in reason


def test_long_bad_values_give_short_reasons(parsed):
    reason = parse_one(parsed, LONG_BAD)[parsing.REASON]
    assert reason is not None and "tcp_len" in reason
    assert len(reason) < 120, f"reason should not repeat a huge cell: {len(reason)} chars"


# ---------------------------------------------------------------------------------------
# Text kept verbatim, whitespace
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("msg", MSG_VERBATIM)
def test_mqtt_msg_is_kept_verbatim(parsed, msg):
    row = parse_one(parsed, mutate("mqtt.msg", msg))
    assert row[parsing.REASON] is None, row[parsing.REASON]
    assert row["mqtt_msg"] == msg
    assert isinstance(row["mqtt_msg"], str)


def test_protoname_is_kept_verbatim(parsed):
    row = parse_one(parsed, mutate("mqtt.protoname", "MQTT"))
    assert row[parsing.REASON] is None
    assert row["mqtt_protoname"] == "MQTT"


@pytest.mark.parametrize(("column", "text"), WHITESPACE, ids=[f"{c}={t!r}" for c, t in WHITESPACE])
def test_spaces_around_cells_are_ignored(parsed, column, text):
    row = parse_one(parsed, mutate(column, text))
    assert row[parsing.REASON] is None, row[parsing.REASON]
    assert row[TABLE[column]] == expected(column, text)


def test_carriage_return_never_leaks_into_a_loaded_value(parsed):
    row = parse_one(parsed, CR_LINE)
    if row[parsing.REASON] is None:
        assert row["target"] == "legitimate"
    else:
        assert "target" in row[parsing.REASON]


def test_valid_rows_have_no_nulls_and_rejected_rows_have_a_reason(parsed):
    for line, row in parsed.items():
        values = [row[c.name] for c in COLUMNS]
        if row[parsing.REASON] is None:
            assert all(v is not None for v in values), line
            for v in values:
                assert not (isinstance(v, float) and (math.isnan(v) or math.isinf(v))), line
        else:
            assert row[parsing.REASON].strip()


# ---------------------------------------------------------------------------------------
# Output shape (analysis only: no Spark job)
# ---------------------------------------------------------------------------------------
SPARK_TYPE = {
    "smallint": T.ShortType(),
    "integer": T.IntegerType(),
    "double precision": T.DoubleType(),
    "text": T.StringType(),
}


def test_output_columns_and_types(spark):
    df = spark.createDataFrame([(1, BASE)], "id long, line string")
    out = parsing.parse(df, "line", keep=["id"])
    assert out.columns == ["id", "line", *[TABLE[n] for n in CSV_NAMES], parsing.REASON]
    types = {f.name: f.dataType for f in out.schema.fields}
    for col in COLUMNS:
        assert types[col.name] == SPARK_TYPE[col.pg_type], col.name
    assert types[parsing.REASON] == T.StringType()
    for name in HEX:
        assert types[TABLE[name]] in (T.ShortType(), T.IntegerType())
    for name in TEXT:
        assert types[TABLE[name]] == T.StringType()
