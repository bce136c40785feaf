"""Unit tests of :mod:`mqttids.schema` against the facts in the MQTTset README
(tests/fixtures/mqttset/README.md).

Expectations come from the README (column order, labels, which columns are text, the
ranges real data takes) and from the MQTT/TCP field widths, never from the schema itself.
"""

from __future__ import annotations

import re

import pytest
from fixtures import MQTTSET_README, REAL_FILES, REAL_TRAIN, require

from mqttids import schema
from mqttids.schema import COLUMNS, CSV_HEADER, CSV_NAMES, FLAG_COLUMNS, LABELS, NAMES, Kind

# The README's "Text columns": four hex flag columns, two verbatim text columns.
README_HEX = ("tcp.flags", "mqtt.conack.flags", "mqtt.conflags", "mqtt.hdrflags")
README_TEXT = ("mqtt.protoname", "mqtt.msg")
# Columns the README says can hold fractional values; every other numeric column is a
# count, length, id or flag, written "8.0" but integral.
README_FRACTIONAL = ("tcp.time_delta",)

# PostgreSQL integer types and what they hold.
PG_INT_RANGE = {"smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1)}


def readme_text() -> str:
    return require(MQTTSET_README).read_text(encoding="utf-8")


def readme_columns() -> list[str]:
    """The 34 column names listed under '## Columns (34, in file order)'."""
    text = readme_text()
    section = text.split("## Columns (34, in file order)", 1)[1]
    listing = section.split("\n- ", 1)[0]
    names = re.findall(r"`([^`]*)`", listing, flags=re.S)
    return [n.strip() for n in " ".join(names).replace("\n", " ").split(",")]


def readme_labels() -> list[str]:
    match = re.search(r"^- Labels: `([^`]*)`", readme_text(), flags=re.M)
    assert match, "README has no Labels line"
    return [label.strip() for label in match.group(1).split(",")]


def within(col: schema.Column, value: float) -> bool:
    """Whether ``value`` satisfies the column's declared range (None = unbounded)."""
    return (col.lo is None or value >= col.lo) and (col.hi is None or value <= col.hi)


# ---------------------------------------------------------------------------------------
# Names and order
# ---------------------------------------------------------------------------------------
def test_csv_names_are_readme_columns_in_file_order():
    expected = readme_columns()
    assert len(expected) == 34
    assert list(CSV_NAMES) == expected


def test_csv_header_is_first_line_of_genuine_files():
    for path in REAL_FILES:
        first = require(path).read_text(encoding="utf-8").splitlines()[0]
        assert first == CSV_HEADER
        assert schema.header_problem(first) is None


def test_table_names_replace_dots_with_underscores():
    assert len(NAMES) == 34
    assert list(NAMES) == [n.replace(".", "_") for n in readme_columns()]
    assert len(set(NAMES)) == len(NAMES), "renaming made two columns collide"
    for name in NAMES:
        # Usable unquoted in both Spark SQL and PostgreSQL.
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
        assert len(name) <= 63, f"{name} exceeds PostgreSQL's identifier length"


def test_column_name_property_matches_names_tuple():
    assert [c.name for c in COLUMNS] == list(NAMES)
    assert [c.csv_name for c in COLUMNS] == list(CSV_NAMES)


def test_labels_are_readme_labels():
    assert list(LABELS) == readme_labels()


def test_splits():
    assert set(schema.SPLITS) == {"train", "test"}


@pytest.mark.parametrize("name", ["tcp.flags", "mqtt.conack.flags.reserved", "target", "mqtt.msg"])
def test_column_lookup_by_file_or_table_name(name):
    by_file = schema.column(name)
    by_table = schema.column(name.replace(".", "_"))
    assert by_file is by_table
    assert by_file.csv_name == name


@pytest.mark.parametrize("name", ["tcp.flag", "mqtt_conack", "", "TCP.FLAGS", "frame.len"])
def test_column_lookup_unknown_raises_keyerror(name):
    with pytest.raises(KeyError):
        schema.column(name)


# ---------------------------------------------------------------------------------------
# Kinds and types
# ---------------------------------------------------------------------------------------
def test_hex_columns_are_the_readme_flag_columns():
    hex_cols = {c.csv_name for c in COLUMNS if c.kind is Kind.HEX}
    assert hex_cols == set(README_HEX)
    assert set(FLAG_COLUMNS) == {n.replace(".", "_") for n in README_HEX}


def test_text_columns_are_kept_as_text():
    for name in README_TEXT:
        col = schema.column(name)
        assert col.kind is Kind.TEXT, name
        assert col.pg_type == "text"
        assert not col.is_integer


def test_target_is_the_label_column():
    target = schema.column("target")
    assert target.kind is Kind.LABEL
    assert target.pg_type == "text"
    assert [c.csv_name for c in COLUMNS if c.kind is Kind.LABEL] == ["target"]


def test_every_other_column_is_numeric():
    non_numeric = set(README_HEX) | set(README_TEXT) | {"target"}
    for col in COLUMNS:
        if col.csv_name in non_numeric:
            continue
        assert col.kind in (Kind.INT, Kind.FLOAT), col.csv_name


def test_fractional_columns_are_double_precision():
    for name in README_FRACTIONAL:
        col = schema.column(name)
        assert col.kind is Kind.FLOAT
        assert col.pg_type == "double precision"
        assert not col.is_integer


def test_integer_columns_have_a_finite_range():
    for col in COLUMNS:
        if col.is_integer:
            assert col.lo is not None and col.hi is not None, col.csv_name
            assert col.lo <= col.hi


@pytest.mark.parametrize("col", [c for c in COLUMNS if c.kind in (Kind.HEX, Kind.INT)], ids=lambda c: c.name)
def test_integer_pg_type_holds_the_range_and_is_narrowest(col):
    lo, hi = PG_INT_RANGE[col.pg_type]
    assert lo <= col.lo and col.hi <= hi, f"{col.name} [{col.lo}, {col.hi}] does not fit {col.pg_type}"
    small_lo, small_hi = PG_INT_RANGE["smallint"]
    fits_smallint = small_lo <= col.lo and col.hi <= small_hi
    assert (col.pg_type == "smallint") == fits_smallint
    assert col.is_integer


def test_pg_types_are_known():
    allowed = {"smallint", "integer", "double precision", "text"}
    assert {c.pg_type for c in COLUMNS} <= allowed


# ---------------------------------------------------------------------------------------
# Constraints must accept every value genuine data takes (README facts)
# ---------------------------------------------------------------------------------------
README_VALUES: list[tuple[str, float]] = [
    *[("tcp.flags", int(v, 16)) for v in ("0x02", "0x04", "0x10", "0x11", "0x12", "0x14", "0x18", "0x19")],
    *[("mqtt.conflags", int(v, 16)) for v in ("0", "0x02", "0x82", "0xc2")],
    *[
        ("mqtt.hdrflags", int(v, 16))
        for v in (
            "0",
            "0x30",
            "0x40",
            "0x32",
            "0x3a",
            "0x10",
            "0x20",
            "0xd0",
            "0xc0",
            "0x31",
            "0x90",
            "0x82",
            "0x50",
            "0xe0",
        )
    ],  # fmt: skip
    ("tcp.time_delta", -0.000002),
    ("tcp.time_delta", 0.0),
    ("tcp.time_delta", 0.000030),
    ("tcp.time_delta", 60.000878),
    ("tcp.len", 0),
    ("tcp.len", 32768),
    ("mqtt.len", 0),
    ("mqtt.len", 692),
    *[("mqtt.kalive", v) for v in (0, 1, 2, 3, 60, 234, 65535)],
    *[("mqtt.msgtype", v) for v in (0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 14)],
    ("mqtt.conack.val", 0),
    ("mqtt.conack.val", 5),
]


@pytest.mark.parametrize(("name", "value"), README_VALUES, ids=lambda x: str(x))
def test_constraints_accept_values_seen_in_real_data(name, value):
    col = schema.column(name)
    assert within(col, value), f"{name}={value} occurs in MQTTset but is outside [{col.lo}, {col.hi}]"


@pytest.mark.parametrize(
    "col", [c for c in COLUMNS if c.kind in (Kind.HEX, Kind.INT, Kind.FLOAT)], ids=lambda c: c.name
)
def test_zero_means_absent_and_is_valid_everywhere(col):
    # The authors filled every missing field with 0, and 12 columns are constant 0.
    assert within(col, 0)


def test_negative_time_delta_is_allowed():
    col = schema.column("tcp.time_delta")
    assert col.lo is None or col.lo < -0.000002
    assert within(col, -0.000002)


# Values the protocol's field widths make impossible: the constraints must reject them.
IMPOSSIBLE: list[tuple[str, float]] = [
    ("tcp.flags", 4096),  # 12-bit field
    ("tcp.len", -1),
    ("tcp.len", 65536),  # 16-bit IP length
    ("mqtt.conack.flags", 256),  # one byte
    ("mqtt.conflags", 256),
    ("mqtt.hdrflags", 256),
    ("mqtt.kalive", 65536),  # 16-bit
    ("mqtt.msgid", 65536),
    ("mqtt.msgtype", 16),  # 4-bit
    ("mqtt.qos", 4),  # 2-bit
    ("mqtt.dupflag", 2),  # 1-bit
    ("mqtt.retain", 2),
    ("mqtt.conflag.cleansess", 2),
    ("mqtt.conflag.uname", 2),
    ("mqtt.conflag.passwd", 2),
    ("mqtt.len", 268_435_456),  # MQTT variable-length maximum is 268,435,455
    ("mqtt.len", -1),
]


@pytest.mark.parametrize(("name", "value"), IMPOSSIBLE, ids=lambda x: str(x))
def test_constraints_reject_values_outside_the_field_width(name, value):
    assert not within(schema.column(name), value)


def test_mqtt_len_allows_the_protocol_maximum():
    assert within(schema.column("mqtt.len"), 268_435_455)


# ---------------------------------------------------------------------------------------
# canonical_hex
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["0x02", "0x04", "0x10", "0x11", "0x12", "0x14", "0x18", "0x19", "0x3a", "0xc2", "0xd0", "0xe0"],
)
def test_canonical_hex_spells_flags_as_the_readme_does(text):
    assert schema.canonical_hex(int(text, 16)) == text


@pytest.mark.parametrize("value", [0, 1, 0x0F, 0x10, 0xFF, 0x100, 0xFFF])
def test_canonical_hex_round_trips_and_is_lower_case(value):
    text = schema.canonical_hex(value)
    assert text.startswith("0x")
    assert len(text) >= 4
    assert text == text.lower()
    assert int(text, 16) == value


# ---------------------------------------------------------------------------------------
# header_problem
# ---------------------------------------------------------------------------------------
HEADER = ",".join(readme_columns())


@pytest.mark.parametrize(
    "header",
    [HEADER, HEADER + "\n", HEADER + "\r\n", "\ufeff" + HEADER, " " + HEADER.replace(",", " , ") + " "],
    ids=["exact", "lf", "crlf", "bom", "spaces"],
)
def test_header_problem_accepts_mqttset_header(header):
    assert schema.header_problem(header) is None


def test_header_problem_names_a_missing_column():
    names = HEADER.split(",")
    names.remove("mqtt.kalive")
    problem = schema.header_problem(",".join(names))
    assert problem is not None and "mqtt.kalive" in problem


def test_header_without_target_is_an_unlabelled_file():
    header = schema.read_header(HEADER.rsplit(",", 1)[0])
    assert schema.header_problem(HEADER.rsplit(",", 1)[0]) is None
    assert not header.labelled


def test_header_extra_columns_are_named():
    header = schema.read_header(",".join(["", HEADER, "frame.len"]))
    assert header.missing == ()
    assert header.extra == ("(unnamed column 1)", "frame.len")


def test_header_columns_in_any_order_and_quoted():
    names = HEADER.split(",")[::-1]
    header = schema.read_header(",".join(f'"{n}"' for n in names))
    assert header.missing == () and header.extra == ()
    assert header.index("tcp.flags") == len(names) - 1


def test_header_problem_rejects_underscored_names():
    problem = schema.header_problem(HEADER.replace(".", "_"))
    assert problem is not None
    assert "tcp.flags" in problem


def test_header_problem_is_case_sensitive():
    assert schema.header_problem(HEADER.upper()) is not None


def test_header_problem_rejects_a_data_row():
    problem = schema.header_problem(require(REAL_TRAIN).read_text(encoding="utf-8").splitlines()[1])
    assert problem is not None
    assert "tcp.flags" in problem and "0x00000018" in problem


def test_header_problem_on_empty_line():
    problem = schema.header_problem("")
    assert problem is not None
    assert "tcp.flags" in problem and "and 28 more" in problem
