"""MQTTset's published statistics, in one place.

Every number here was read from the dataset's public notebooks and the authors' build
scripts (see ``/work/shared/mqttset/README.md``). The sample generator is calibrated
against them and the tests and data-quality jobs compare against them, so a number that
changes must change here only. Counts are exact; shares are as published (rounded).
"""

from __future__ import annotations

from mqttids.schema import CSV_NAMES, LABELS

# Rows per target in each published file.
REDUCED_ROWS: dict[str, dict[str, int]] = {
    "train": {
        "legitimate": 115_824,
        "dos": 91_156,
        "bruteforce": 10_150,
        "malformed": 7_646,
        "slowite": 6_441,
        "flood": 429,
    },
    "test": {
        "legitimate": 49_639,
        "dos": 39_077,
        "bruteforce": 4_351,
        "malformed": 3_278,
        "slowite": 2_761,
        "flood": 184,
    },
}
AUGMENTED_ROWS: dict[str, dict[str, int]] = {
    split: {label: total // 2 if label == "legitimate" else total // 10 for label in LABELS}
    for split, total in (("train", 14_000_000), ("test", 6_000_000))
}

# Average mqtt.len over train70_reduced (and about 12.3 over a 5% sample of the augmented train).
AVG_MQTT_LEN_TRAIN: float = 31.435725201384873
AVG_MQTT_LEN_AUGMENTED: float = 12.3

# Average tcp.len per target: train70_reduced only, and train70 + test30 reduced.
AVG_TCP_LEN_TRAIN: dict[str, float] = {
    "slowite": 3.4636,
    "bruteforce": 3.2609,
    "flood": 13479.69,
    "malformed": 20.892,
    "dos": 305.396,
    "legitimate": 7.785,
}
AVG_TCP_LEN_ALL: dict[str, float] = {
    "slowite": 3.99935,
    "bruteforce": 3.98710,
    "flood": 13313.416,
    "malformed": 20.97492,
    "dos": 312.65760,
    "legitimate": 7.77610,
}
# Average tcp.len per target on the full augmented files (rounded as published).
AVG_TCP_LEN_AUGMENTED: dict[str, float] = {
    "slowite": 3.7,
    "bruteforce": 3.3,
    "flood": 13_591.0,
    "malformed": 21.3,
    "dos": 313.5,
    "legitimate": 7.8,
}

# Value counts over train70 + test30 reduced (flag columns keyed by value, not by string).
TCP_FLAGS_COUNTS: dict[int, int] = {
    0x18: 183_076,
    0x10: 134_547,
    0x11: 4_198,
    0x02: 3_372,
    0x12: 3_372,
    0x04: 1_592,
    0x19: 738,
    0x14: 41,
}
HDRFLAGS_COUNTS: dict[int, int] = {
    0x00: 124_431,
    0x30: 103_457,
    0x40: 38_885,
    0x32: 35_724,
    0x3A: 18_707,
    0x10: 3_282,
    0x20: 3_282,
    0xD0: 1_427,
    0xC0: 1_399,
    0x31: 121,
    0x90: 82,
    0x82: 82,
    0x50: 39,
    0xE0: 18,
}
MSGTYPE_COUNTS: dict[int, int] = {
    3: 158_009,
    0: 124_431,
    4: 38_885,
    1: 3_282,
    2: 3_282,
    13: 1_427,
    12: 1_399,
    8: 82,
    9: 82,
    5: 39,
    14: 18,
}
PROTONAME_MQTT_ROWS: int = 3_282

# tcp.time_delta over train70_reduced.
TIME_DELTA_TRAIN: dict[str, float] = {
    "mean": 0.278867,
    "std": 2.900768,
    "min": -0.000002,
    "max": 60.000878,
    "median": 0.000030,
}
TIME_DELTA_ZERO_SHARE: float = 0.0935
TCP_LEN_MEAN_TRAIN: float = 149.96
TCP_LEN_MAX: int = 32_768
MQTT_LEN_MAX: int = 692
TCP_LEN_ZERO_SHARE: float = 0.373
MQTT_LEN_ZERO_SHARE: float = 0.385
# Rows without an MQTT layer (msgtype 0): 124,431 of 330,936.
BARE_TCP_SHARE: float = MSGTYPE_COUNTS[0] / sum(MSGTYPE_COUNTS.values())
# Exact duplicate rows in train70_reduced: 142,256 of 231,646 (61%).
DUPLICATE_ROWS_TRAIN: int = 142_256
DUPLICATE_SHARE_TRAIN: float = DUPLICATE_ROWS_TRAIN / sum(REDUCED_ROWS["train"].values())

# Correlations reported on the reduced files.
CORR_MQTT_LEN_QOS: float = 0.988
CORR_PASSWD_UNAME: float = 0.998

# Value sets seen in the published files.
TCP_FLAGS_VALUES: frozenset[int] = frozenset(TCP_FLAGS_COUNTS)
CONFLAGS_VALUES: frozenset[int] = frozenset({0x00, 0x02, 0x82, 0xC2})
CONACK_VAL_VALUES: frozenset[int] = frozenset({0, 5})
KALIVE_VALUES: frozenset[int] = frozenset({0, 1, 2, 3, 60, 234, 65535})

# Columns that are zero in every row of every published file.
ZERO_COLUMNS: tuple[str, ...] = (
    "mqtt.conack.flags.reserved",
    "mqtt.conack.flags.sp",
    "mqtt.conflag.qos",
    "mqtt.conflag.reserved",
    "mqtt.conflag.retain",
    "mqtt.conflag.willflag",
    "mqtt.sub.qos",
    "mqtt.suback.qos",
    "mqtt.willmsg",
    "mqtt.willmsg_len",
    "mqtt.willtopic",
    "mqtt.willtopic_len",
)
assert set(ZERO_COLUMNS) <= set(CSV_NAMES), "ZERO_COLUMNS must name schema columns"

# Test accuracy people report on the reduced files with the given split.
REPORTED_ACCURACY: tuple[float, float] = (0.80, 0.90)
