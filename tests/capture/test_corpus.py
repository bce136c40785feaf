"""The corpus holds genuine MQTT of each behaviour, on a private broker, over loopback only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from capture.exports import query, read_csv
from mqttids.capture import corpus as corpus_module
from mqttids.capture.corpus import CaptureFile, Corpus
from mqttids.capture.tshark import Conversion

BUILD_CORPUS = Path(__file__).resolve().parents[2] / "jobs" / "build_corpus.py"


def _files(corpus: Corpus, label: str) -> list[CaptureFile]:
    return [f for f in corpus.files if f.label == label]


def _frame(converted: dict[str, Conversion], capture: CaptureFile) -> pd.DataFrame:
    return read_csv(converted[Path(capture.path).name].output)


def _mqtt(corpus: Corpus, capture: CaptureFile, fields: list[str], display_filter: str) -> pd.DataFrame:
    return query(capture.path, corpus.mqtt_port, fields, display_filter)


def test_one_train_and_one_test_capture_per_class_and_a_manifest(corpus: Corpus) -> None:
    names = {Path(f.path).name for f in corpus.files}
    assert names == {f"{label}-{split}.pcap" for label in corpus_module.LABELS for split in ("train", "test")}
    assert all(f.connections >= 3 for f in corpus.files)
    manifest = json.loads((Path(corpus.directory) / corpus_module.MANIFEST).read_text())
    assert manifest == json.loads(json.dumps(asdict(corpus)))
    assert corpus.mqtt_port != 1883


def test_the_corpus_takes_seconds(built) -> None:  # conftest.Built
    assert built.seconds < 60, f"the corpus took {built.seconds:.1f} s"


def test_only_loopback_traffic_of_the_private_broker(
    corpus: Corpus, converted: dict[str, Conversion]
) -> None:
    port = str(corpus.mqtt_port)
    for capture in corpus.files:
        frame = _frame(converted, capture)
        assert set(frame["ip.src"]) | set(frame["ip.dst"]) == {"127.0.0.1"}
        assert ((frame["tcp.srcport"] == port) | (frame["tcp.dstport"] == port)).all()


def test_legitimate_sessions_use_every_mqtt_packet_type(corpus: Corpus) -> None:
    for capture in _files(corpus, "legitimate"):
        messages = _mqtt(corpus, capture, ["mqtt.msgtype", "mqtt.conack.val", "mqtt.kalive"], "mqtt")
        types = {int(t) for cell in messages["mqtt.msgtype"] for t in cell.split("|")}
        assert types == set(range(1, 15)), capture.path  # CONNECT ... PINGREQ/PINGRESP, DISCONNECT
        assert set(messages["mqtt.conack.val"]) == {"", "0"}
        assert set(messages["mqtt.kalive"]) - {""} == {"1", "60"}


def test_flood_publishes_are_large(corpus: Corpus, converted: dict[str, Conversion]) -> None:
    for capture in _files(corpus, "flood"):
        frame = _frame(converted, capture)
        publishes = frame[frame["mqtt.msgtype"] == "3"]
        assert len(publishes) >= 10
        assert publishes["mqtt.len"].astype(int).median() >= 8192, capture.path
        assert frame["tcp.len"].astype(int).max() >= 16384


def test_dos_clients_are_all_connected_at_once(corpus: Corpus) -> None:
    for capture in _files(corpus, "dos"):
        connects = _mqtt(corpus, capture, ["frame.number", "tcp.stream"], "mqtt.msgtype == 1")
        leaves = _mqtt(corpus, capture, ["frame.number"], "mqtt.msgtype == 14")
        assert connects["tcp.stream"].nunique() == capture.connections >= 40
        assert len(leaves) == capture.connections
        assert connects["frame.number"].astype(int).max() < leaves["frame.number"].astype(int).min()


def test_bruteforce_guesses_are_refused(corpus: Corpus) -> None:
    for capture in _files(corpus, "bruteforce"):
        guesses = _mqtt(corpus, capture, ["mqtt.passwd", "mqtt.username"], "mqtt.msgtype == 1")
        answers = _mqtt(corpus, capture, ["mqtt.conack.val"], "mqtt.msgtype == 2")
        assert len(guesses) == len(answers) == capture.connections
        assert guesses["mqtt.passwd"].is_unique
        assert corpus_module.PASSWORD not in set(guesses["mqtt.passwd"])
        assert set(guesses["mqtt.username"]) == {corpus_module.USER}
        assert set(answers["mqtt.conack.val"]) <= {"4", "5"}  # bad user name or password, not authorized


def test_slowite_connections_hold_a_long_keepalive_idle(
    corpus: Corpus, converted: dict[str, Conversion]
) -> None:
    for capture in _files(corpus, "slowite"):
        frame = _frame(converted, capture)
        connects = frame[frame["mqtt.msgtype"] == "1"]
        assert len(connects) == capture.connections >= 20
        assert set(connects["mqtt.kalive"]) == {"65535"}
        assert "14" not in set(frame["mqtt.msgtype"])  # no DISCONNECT: the peers just vanish
        time = frame["frame.time_relative"].astype(float)
        accepted = time[frame["mqtt.msgtype"] == "2"].groupby(frame["tcp.stream"]).min()
        fin = frame["tcp.flags"].map(lambda flags: int(flags, 16) & 0x01 == 1)
        closed = time[fin].groupby(frame["tcp.stream"]).min()
        assert (closed - accepted).min() >= 1.0, capture.path


def test_malformed_packets_break_the_protocol(corpus: Corpus) -> None:
    for capture in _files(corpus, "malformed"):
        flagged = _mqtt(corpus, capture, ["frame.number"], "_ws.malformed")
        assert len(flagged) >= 2, capture.path
        headers = _mqtt(corpus, capture, ["mqtt.hdrflags", "mqtt.conflag.reserved"], "mqtt")
        flags = {flag for cell in headers["mqtt.hdrflags"] for flag in cell.split("|")}
        assert {"0x36", "0x80", "0xf0"} <= flags  # QoS 3, SUBSCRIBE flags 0000, reserved type 15
        assert "1" in set(headers["mqtt.conflag.reserved"])
        answers = _mqtt(corpus, capture, ["tcp.stream"], "mqtt.msgtype == 2")
        assert len(answers) < capture.connections  # the broker refused some CONNECTs outright


def test_build_corpus_cli(tmp_path: Path) -> None:
    run = [sys.executable, str(BUILD_CORPUS)]
    env = {**os.environ, "PYTHONPATH": str(BUILD_CORPUS.parent)}
    shown = subprocess.run([*run, "--help"], capture_output=True, text=True, env=env, check=True)
    assert "corpus.json" in shown.stdout
    wrong = subprocess.run([*run, str(tmp_path), "--labels", "nope"], capture_output=True, text=True, env=env)
    assert wrong.returncode == 2 and "unknown labels ['nope']" in wrong.stderr
    quiet = subprocess.run(
        [*run, str(tmp_path / "q"), "--labels", "bruteforce"], capture_output=True, env=env
    )
    assert (quiet.returncode, quiet.stdout) == (0, b"")
    made = subprocess.run(
        [*run, str(tmp_path / "v"), "--labels", "bruteforce", "--csv", "-v"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == [
        "bruteforce-test.csv",
        "bruteforce-test.pcap",
        "bruteforce-train.csv",
        "bruteforce-train.pcap",
        "corpus.json",
    ]
    assert len(re.findall(r"bruteforce/t\w+, 25 connections, \d+ packets", made.stdout)) == 2
