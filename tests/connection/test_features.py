"""Connection features: hand-built connections against hand-computed values, causal order, the
feature lists, and the live state against the Spark functions on the genuine capture corpus."""

from __future__ import annotations

import math
from datetime import date

import pytest
from pyspark.sql import functions as F

from mqttids.connection import features, peers
from mqttids.connection.features import (
    CONNECTION_FEATURES,
    CONTEXT_FEATURES,
    IDENTIFIERS,
    ConnectionState,
    connection_windows,
    packet_context,
)
from mqttids.connection.state import micros
from mqttids.learning import features as packet_features
from mqttids.warehouse.batches import BatchRange

DAY = date(2001, 1, 1)
SCHEMA = (
    "batch_date date, connection_id long, connection_seq int, capture_time timestamp, target string, "
    "tcp_len int, mqtt_len int, mqtt_msgtype int, mqtt_kalive int, mqtt_conack_val int, tcp_flags int"
)
START = 1_600_000_000.0
ACK, FIN_ACK = 0x10, 0x11  # tcp.flags
# (seq, seconds after START, tcp_len, mqtt_len, msgtype, kalive, conack): a refused login, then
# a bare TCP segment, then a DISCONNECT.
HAND_BUILT = [
    (1, 0.0, 20, 18, 1, 60, 0),
    (2, 0.5, 4, 2, 2, 0, 5),
    (3, 1.5, 0, 0, 0, 0, 0),
    (4, 4.5, 2, 0, 14, 0, 0),
]
# What each packet of HAND_BUILT must see of its connection so far, computed by hand.
EXPECTED_SO_FAR = [
    {"packets": 1, "bytes": 20, "bytes_mean": 20, "bytes_max": 20, "mqtt_bytes": 18, "duration": 0,
     "gap_mean": 0, "gap_max": 0, "gap_std": 0, "n_connect": 1, "n_connack": 0, "n_disconnect": 0,
     "mqtt_share": 1, "kalive_max": 60, "connack_accepted": 0, "connack_refused": 0},
    {"packets": 2, "bytes": 24, "bytes_mean": 12, "bytes_max": 20, "mqtt_bytes": 20, "duration": 0.5,
     "gap_mean": 0.5, "gap_max": 0.5, "gap_std": 0, "n_connect": 1, "n_connack": 1, "n_disconnect": 0,
     "mqtt_share": 1, "kalive_max": 60, "connack_accepted": 0, "connack_refused": 1},
    {"packets": 3, "bytes": 24, "bytes_mean": 8, "bytes_max": 20, "mqtt_bytes": 20, "duration": 1.5,
     "gap_mean": 0.75, "gap_max": 1.0, "gap_std": 0.25, "n_connect": 1, "n_connack": 1,
     "n_disconnect": 0, "mqtt_share": 2 / 3, "kalive_max": 60, "connack_accepted": 0, "connack_refused": 1},
    {"packets": 4, "bytes": 26, "bytes_mean": 6.5, "bytes_max": 20, "mqtt_bytes": 20, "duration": 4.5,
     "gap_mean": 1.5, "gap_max": 3.0, "gap_std": math.sqrt(3.5 / 3), "n_connect": 1, "n_connack": 1,
     "n_disconnect": 1, "mqtt_share": 0.75, "kalive_max": 60, "connack_accepted": 0, "connack_refused": 1},
]  # fmt: skip


def _rows(connection: int, packets: list[tuple], day: date = DAY, target: str = "bruteforce") -> list[tuple]:
    from datetime import UTC, datetime

    return [
        (
            day,
            connection,
            seq,
            datetime.fromtimestamp(START + t, UTC),
            target,
            length,
            mlen,
            kind,
            ka,
            code,
            ACK,
        )
        for seq, t, length, mlen, kind, ka, code in packets
    ]


@pytest.fixture(scope="module")
def hand_built(spark):
    """HAND_BUILT as connection 7, shuffled among an accepted login (connection 8) and a packet
    without a connection, plus a connection 7 of another batch (a different connection)."""
    accepted = [(1, 0.2, 30, 28, 1, 30, 0), (2, 0.3, 4, 2, 2, 0, 0)]
    rows = (
        _rows(7, HAND_BUILT) + _rows(8, accepted, target="legitimate") + _rows(7, accepted, date(2001, 1, 2))
    )
    rows.append((DAY, None, None, None, "legitimate", 60, 0, 0, 0, 0, 0x18))
    return spark.createDataFrame(list(reversed(rows)), SCHEMA).repartition(3)


def _expected(prefix: str, wanted: dict) -> dict[str, float]:
    return {f"{prefix}{k}": pytest.approx(float(v), abs=1e-12) for k, v in wanted.items()}


def test_each_packet_sees_its_connection_so_far_and_nothing_later(hand_built):
    rows = packet_context(hand_built).where("connection_id = 7 AND batch_date = '2001-01-01'").collect()
    by_seq = {r["connection_seq"]: r.asDict() for r in rows}
    assert sorted(by_seq) == [1, 2, 3, 4]
    for seq, wanted in enumerate(EXPECTED_SO_FAR, start=1):
        got = {k: by_seq[seq][k] for k in _expected("ctx_", wanted)}
        assert got == _expected("ctx_", wanted), seq


def test_a_later_packet_changes_no_earlier_packets_features(spark, hand_built):
    # A later packet of connection 7, and a later connection of the same capture (its peers).
    later = _rows(7, [(5, 9.0, 60000, 60000, 3, 65535, 0)]) + _rows(9, [(1, 9.5, 0, 0, 0, 0, 0)])
    order = ["batch_date", "connection_id", "connection_seq"]
    before = packet_context(hand_built).orderBy(*order)
    after = packet_context(hand_built.unionByName(spark.createDataFrame(later, SCHEMA)))
    earlier = after.where("capture_time < timestamp_seconds(1600000009)")
    assert earlier.orderBy(*order).collect() == before.collect()


OTHER_CAPTURE = (1 << 32) + 7  # ingest's connection id of tcp.stream 7 in the batch's second file
# (connection, seq): (peer_packets, peer_opens, peer_active) by hand. Connection 8 closes (FIN)
# at 0.3 s; at 4.5 s the 2 s window holds only that packet.
EXPECTED_PEERS = {
    (7, 1): (1, 1, 1), (8, 1): (2, 2, 2), (8, 2): (3, 2, 1), (7, 2): (4, 2, 1), (7, 3): (5, 2, 1),
    (7, 4): (1, 0, 1), (OTHER_CAPTURE, 1): (1, 1, 1), (OTHER_CAPTURE, 2): (2, 1, 1),
}  # fmt: skip


@pytest.fixture(scope="module")
def one_batch(spark):
    """Connections 7 and 8 of one capture (8 ends with a FIN), and a connection of another."""
    rows = _rows(7, HAND_BUILT) + _rows(8, [(1, 0.2, 30, 28, 1, 30, 0), (2, 0.3, 0, 0, 0, 0, 0)])
    rows = [(*r[:-1], FIN_ACK) if r[1:3] == (8, 2) else r for r in rows] + _rows(
        OTHER_CAPTURE, HAND_BUILT[:2]
    )
    return spark.createDataFrame(list(reversed(rows)), SCHEMA).repartition(2)


def _peers(row) -> tuple[float, ...]:
    return tuple(row[f"ctx_{n}"] for n in peers.NAMES)


def test_peers_count_the_capture_so_far_and_a_window_back(one_batch):
    got = {(r["connection_id"], r["connection_seq"]): _peers(r) for r in packet_context(one_batch).collect()}
    assert got == EXPECTED_PEERS


def test_the_live_peers_give_the_hand_computed_values(one_batch):
    def in_order(r) -> tuple:
        return (r["connection_id"] >> 32, r["capture_time"], r["connection_id"], r["connection_seq"])

    rows = sorted(one_batch.collect(), key=in_order)
    captures: dict[int, peers.PeerState] = {}
    for r in rows:
        live = captures.setdefault(r["connection_id"] >> 32, peers.PeerState())
        got = live.update(r["connection_id"], r["connection_seq"] == 1, r.asDict(), micros(r["capture_time"]))
        assert _peers(got) == EXPECTED_PEERS[(r["connection_id"], r["connection_seq"])], r


def test_packets_without_a_connection_are_left_out_and_batches_keep_connections_apart(hand_built):
    rows = packet_context(hand_built).collect()
    assert len(rows) == 8 and all(r["connection_id"] is not None for r in rows)
    other_batch = [r for r in rows if r["batch_date"] == date(2001, 1, 2)]
    assert [r["ctx_packets"] for r in sorted(other_batch, key=lambda r: r["connection_seq"])] == [1, 2]


def test_windows_cut_a_connection_by_its_first_packets_time(hand_built):
    rows = connection_windows(hand_built, window_seconds=2.0).where(
        "connection_id = 7 AND batch_date = '2001-01-01'"
    )
    by_window = {r["window_no"]: r.asDict() for r in rows.collect()}
    assert sorted(by_window) == [0, 2]  # times 0, 0.5, 1.5 | 4.5: window 1 holds no packet
    first = {"packets": 3, "bytes": 24, "duration": 1.5, "gap_mean": 0.75, "gap_std": 0.25, "n_connack": 1}
    assert {f"conn_{k}": by_window[0][f"conn_{k}"] for k in first} == _expected("conn_", first)
    last = {"packets": 1, "bytes": 2, "duration": 0, "gap_mean": 0, "gap_max": 0, "n_disconnect": 1,
            "n_connect": 0, "kalive_max": 0}  # fmt: skip
    assert {f"conn_{k}": by_window[2][f"conn_{k}"] for k in last} == _expected("conn_", last)
    assert by_window[0]["packets"] == 3 and by_window[0]["target"] == "bruteforce"
    assert (by_window[0]["last_time"] - by_window[0]["first_time"]).total_seconds() == 1.5

    whole = connection_windows(hand_built, window_seconds=3600).where(
        "connection_id = 7 AND batch_date = '2001-01-01'"
    )
    (row,) = whole.collect()
    assert {k: row[k] for k in _expected("conn_", EXPECTED_SO_FAR[-1])} == _expected(
        "conn_", EXPECTED_SO_FAR[-1]
    )


def test_the_live_state_gives_the_hand_computed_values():
    state = ConnectionState(window_seconds=2.0)
    closed = []
    for (seq, t, length, mlen, kind, ka, code), wanted in zip(HAND_BUILT, EXPECTED_SO_FAR, strict=True):
        packet = {"connection_seq": seq, "capture_time": START + t, "tcp_len": length, "mqtt_len": mlen,
                  "mqtt_msgtype": kind, "mqtt_kalive": ka, "mqtt_conack_val": code}  # fmt: skip
        got = state.update(packet)
        assert {k: got[k] for k in _expected("ctx_", wanted)} == _expected("ctx_", wanted), seq
        if state.closed is not None:
            closed.append((state.closed.number, state.closed.packets))
    assert closed == [(0, 3)] and state.window_no == 2 and state.window().packets == 1
    assert state.window().first_us == state.window().last_us == micros(START + HAND_BUILT[-1][1])


def test_the_feature_lists_hold_no_identifier(hand_built):
    names = set(CONTEXT_FEATURES) | set(CONNECTION_FEATURES)
    assert not names & set(IDENTIFIERS)
    for word in ("connection_id", "port", "ip_", "source", "stream", "epoch", "capture", "frame", "batch"):
        assert not [n for n in names if word in n], word
    # The functions add exactly the listed features, nothing that names the capture.
    assert [c for c in packet_context(hand_built).columns if c not in hand_built.columns] == list(
        CONTEXT_FEATURES
    )
    windows = connection_windows(hand_built, 60).columns
    assert [c for c in windows if c.startswith("conn_")] == list(CONNECTION_FEATURES)
    assert set(windows) - set(CONNECTION_FEATURES) == {
        "batch_date", "connection_id", "window_no", "target", "first_time", "last_time", "packets"
    }  # fmt: skip


def test_the_window_length_is_a_checked_setting(monkeypatch):
    monkeypatch.setenv("MQTTIDS_CONNECTION_WINDOW", "90")
    assert features.window_seconds() == 90.0
    monkeypatch.setenv("MQTTIDS_CONNECTION_WINDOW", "-1")
    with pytest.raises(ValueError, match="MQTTIDS_CONNECTION_WINDOW"):
        features.window_seconds()
    with pytest.raises(ValueError, match="positive"):
        ConnectionState(0)


# --- the live state against Spark, on genuine traffic ------------------------------------
WINDOW = 1.0  # seconds: the corpus's connections last up to a few seconds, so many have 2+ windows


def test_the_live_state_equals_spark_on_the_capture_corpus(spark, db_url, corpus_packets):
    packets = packet_features.read_packets(spark, db_url, BatchRange.single(corpus_packets))
    context = packet_context(packets).withColumn("capture_time", F.unix_micros("capture_time") / 1e6)
    capture = F.shiftright("connection_id", 32)
    ordered = context.orderBy(capture, "capture_time", "connection_id", "connection_seq").toPandas()
    windows = {
        (r["connection_id"], r["window_no"]): r.asDict()
        for r in connection_windows(packets, WINDOW).collect()
    }
    assert ordered["connection_id"].nunique() > 100 and len(windows) > ordered["connection_id"].nunique()
    states: dict[int, ConnectionState] = {}
    captures: dict[int, peers.PeerState] = {}
    seen_windows = {}
    for packet in ordered.to_dict("records"):
        first = packet["connection_id"] not in states
        state = states.setdefault(packet["connection_id"], ConnectionState(WINDOW))
        live = state.update(packet)
        capture_peers = captures.setdefault(packet["connection_id"] >> 32, peers.PeerState())
        live |= capture_peers.update(packet["connection_id"], first, packet, micros(packet["capture_time"]))
        assert live == pytest.approx({k: packet[k] for k in CONTEXT_FEATURES}, rel=1e-9, abs=1e-9), packet
        if state.closed is not None:
            seen_windows[(packet["connection_id"], state.closed.number)] = state.closed
    for connection, state in states.items():
        seen_windows[(connection, state.window_no)] = state.window()
    assert seen_windows.keys() == windows.keys()
    for key, live in seen_windows.items():
        spark_row = windows[key]
        assert live.features == pytest.approx(
            {k: spark_row[k] for k in CONNECTION_FEATURES}, rel=1e-9, abs=1e-9
        )
        assert (live.first_us, live.last_us, live.packets) == (
            micros(spark_row["first_time"]), micros(spark_row["last_time"]), spark_row["packets"]
        ), key  # fmt: skip
