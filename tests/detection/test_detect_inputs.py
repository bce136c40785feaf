"""Which inputs a scoring run finds, listed and opened through Hadoop's FileSystem as Spark reads
them (the same calls read ``gs://`` on Dataproc), and what each one is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mqttids.capture import fields
from mqttids.detection import inputs


@pytest.fixture()
def landing(tmp_path, corpus) -> Path:
    """A landing folder as an uploader leaves it: a capture, a raw per-class CSV, the corpus
    manifest, a hidden partial upload and a Hadoop marker file."""
    folder = tmp_path / "landing"
    folder.mkdir()
    shutil.copy(corpus.files[0].path, folder / "site-a.pcap")
    (folder / "site-b.csv").write_text(",".join(fields.FIELDS) + "\n")
    shutil.copy(Path(corpus.directory) / "corpus.json", folder)
    (folder / ".site-c.pcap.part").write_bytes(b"\xd4\xc3\xb2\xa1")
    (folder / "_SUCCESS").write_bytes(b"")
    return folder


def test_a_folder_gives_its_captures_and_raw_csvs_by_real_path(spark, landing):
    found = inputs.find(spark, str(landing))
    assert [(i.capture, i.is_capture) for i in found] == [
        (str(landing / "site-a.pcap"), True),
        (str(landing / "site-b.csv"), False),
    ]
    assert found[0].uri == f"file:{landing / 'site-a.pcap'}"  # as Spark's tasks are given it
    assert found[1].header == list(fields.FIELDS)


def test_a_glob_and_a_file_uri_name_an_input_as_its_path_does(spark, landing):
    (by_glob,) = inputs.find(spark, str(landing / "*.pcap"))
    (by_uri,) = inputs.find(spark, f"file://{landing}/site-a.pcap")
    assert by_glob.capture == by_uri.capture == str(landing / "site-a.pcap")


def test_a_csv_without_the_connection_is_refused_naming_it(spark, tmp_path):
    mqttset = tmp_path / "train70.csv"
    mqttset.write_text(",".join(f for f in fields.FIELDS if f != "tcp.stream") + "\n")
    with pytest.raises(inputs.InputError, match=r"train70\.csv has no tcp\.stream column"):
        inputs.find(spark, str(mqttset))
