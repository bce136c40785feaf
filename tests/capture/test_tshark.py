"""Converting captures with the authors' tshark recipe: exact output, formats and bad inputs."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from fixtures import CAPTURE_RECIPE, require

from capture.exports import capinfos_packets, independent_export, read_csv
from mqttids.capture import tshark
from mqttids.capture.corpus import Corpus
from mqttids.capture.fields import FIELDS


def test_fields_are_the_authors_sixty_in_their_order() -> None:
    text = require(CAPTURE_RECIPE).read_text()
    listing = re.search(r"The 60 fields, in this order:\s*`([^`]+)`", text)
    assert listing is not None
    assert tuple(listing.group(1).split()) == FIELDS
    assert "-o tcp.calculate_timestamps:TRUE" in text
    assert "-E header=y\n  -E separator=, -E quote=d -E occurrence=f" in text


def test_conversion_equals_the_independent_export_cell_for_cell(
    corpus: Corpus, converted: dict[str, tshark.Conversion]
) -> None:
    for capture in corpus.files:
        result = converted[Path(capture.path).name]
        frame = read_csv(result.output)
        expected = independent_export(capture.path, corpus.mqtt_port)
        pd.testing.assert_frame_equal(frame, expected)
        assert tuple(frame.columns) == FIELDS
        packets = capinfos_packets(capture.path)
        assert result.packets == len(frame) == packets > 0, capture.path
        assert frame["frame.number"].tolist() == [str(n) for n in range(1, packets + 1)]
        assert (result.truncated, result.stderr) == (False, "")


def test_every_row_is_tcp_and_has_flags(converted: dict[str, tshark.Conversion]) -> None:
    for result in converted.values():
        frame = read_csv(result.output)
        assert set(frame["ip.proto"]) == {"6"}
        assert (frame["tcp.flags"].str.match(r"^0x[0-9a-f]{4}$")).all(), result.output


def test_tcp_stream_numbers_each_connection_once(
    corpus: Corpus, converted: dict[str, tshark.Conversion]
) -> None:
    for capture in corpus.files:
        frame = read_csv(converted[Path(capture.path).name].output)
        streams = frame["tcp.stream"].astype(int)
        ends = frame.apply(
            lambda row: frozenset({(row["ip.src"], row["tcp.srcport"]), (row["ip.dst"], row["tcp.dstport"])}),
            axis=1,
        )
        pairs = pd.DataFrame({"stream": streams, "ends": ends}).drop_duplicates()
        assert pairs["stream"].is_unique, f"{capture.path}: a stream with two endpoint pairs"
        assert sorted(pairs["stream"]) == list(range(capture.connections)), capture.path
        # One SYN per stream, as its first packet. The endpoint pair alone is no connection id:
        # a client port freed by the broker's close is soon reused, and tshark starts a new stream.
        syn = frame["tcp.flags"] == "0x0002"
        assert syn.groupby(streams).sum().eq(1).all(), capture.path
        assert syn[~streams.duplicated()].all(), capture.path


def test_capture_format_reads_magic_bytes(corpus: Corpus, tmp_path: Path) -> None:
    pcap = Path(corpus.files[0].path)
    assert tshark.capture_format(pcap) == "pcap"
    for kind, expected in (("pcapng", "pcapng"), ("nsecpcap", "pcap-ns")):
        copy = tmp_path / f"copy.{kind}"
        subprocess.run(["editcap", "-F", kind, str(pcap), str(copy)], check=True, capture_output=True)
        assert tshark.capture_format(copy) == expected
    big_endian = tmp_path / "big-endian.dat"
    big_endian.write_bytes(struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    assert tshark.capture_format(big_endian) == "pcap"
    text = tmp_path / "rows.pcap"
    text.write_text("tcp.flags,tcp.len\n0x18,4\n")
    assert tshark.capture_format(text) is None
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert tshark.capture_format(empty) is None


def test_pcapng_and_nanosecond_pcap_convert_to_the_same_rows(corpus: Corpus, tmp_path: Path) -> None:
    pcap = Path(next(f.path for f in corpus.files if f.label == "legitimate"))
    reference = read_csv(tshark.convert(pcap, tmp_path / "pcap.csv", [corpus.mqtt_port]).output)
    for kind in ("pcapng", "nsecpcap"):
        copy = tmp_path / f"capture.{kind}"
        subprocess.run(["editcap", "-F", kind, str(pcap), str(copy)], check=True, capture_output=True)
        result = tshark.convert(copy, tmp_path / f"{kind}.csv", [corpus.mqtt_port])
        pd.testing.assert_frame_equal(read_csv(result.output), reference)


def test_without_the_broker_port_nothing_decodes_as_mqtt(corpus: Corpus, tmp_path: Path) -> None:
    """tshark knows MQTT on 1883 only: the corpus's port must be passed, as corpus.json says."""
    capture = next(f.path for f in corpus.files if f.label == "legitimate")
    frame = read_csv(tshark.convert(capture, tmp_path / "plain.csv").output)
    assert set(frame["mqtt.msgtype"]) == {""}
    assert (frame["tcp.len"].astype(int) > 0).any()


def _pcap_record_offsets(data: bytes) -> list[int]:
    """Where each record of a little-endian pcap starts (24-byte file header, 16-byte records)."""
    offsets, at = [], 24
    while at < len(data):
        offsets.append(at)
        at += 16 + struct.unpack_from("<I", data, at + 8)[0]
    return offsets


def test_a_truncated_capture_keeps_the_packets_before_the_cut(
    corpus: Corpus, converted: dict[str, tshark.Conversion], tmp_path: Path
) -> None:
    capture = next(f for f in corpus.files if f.label == "flood" and f.split == "train")
    data = Path(capture.path).read_bytes()
    offsets = _pcap_record_offsets(data)
    kept = len(offsets) // 2
    cut = tmp_path / "flood-cut.pcap"
    cut.write_bytes(data[: offsets[kept] + 16 + 10])  # ten bytes into packet kept + 1
    result = tshark.convert(cut, tmp_path / "cut.csv", [corpus.mqtt_port])
    assert result.truncated
    assert tshark.CUT_SHORT in result.stderr and "flood-cut.pcap" in result.stderr
    assert result.packets == kept
    full = read_csv(converted[Path(capture.path).name].output)
    pd.testing.assert_frame_equal(read_csv(result.output), full.head(kept))


def test_a_file_that_is_not_a_capture_is_named(tmp_path: Path) -> None:
    rows = tmp_path / "train70.pcap"
    rows.write_text("tcp.flags,tcp.len\n0x18,4\n")
    with pytest.raises(tshark.NotACapture, match="train70.pcap"):
        tshark.convert(rows, tmp_path / "out.csv")


@pytest.mark.parametrize("magic", [b"\x0a\x0d\x0d\x0a", b"\xd4\xc3\xb2\xa1"])
def test_a_capture_header_over_garbage_is_refused_with_the_file_name(tmp_path: Path, magic: bytes) -> None:
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(magic + b"\xff" * 512)
    with pytest.raises((tshark.NotACapture, tshark.ConversionError), match="garbage.pcap"):
        tshark.convert(garbage, tmp_path / "out.csv")


def test_tshark_missing_says_how_to_install_it(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tshark.TsharkMissing) as raised:
        tshark.convert(corpus.files[0].path, tmp_path / "out.csv")
    assert "apt-get install tshark" in str(raised.value)
    assert "brew install wireshark" in str(raised.value)
    assert not (tmp_path / "out.csv").exists()
