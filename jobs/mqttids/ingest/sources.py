"""Checking input files before any row is loaded.

A missing file, an empty file or a wrong header must fail the load with a
message that names the file and the problem, before anything is written.
Files are opened through Hadoop's FileSystem API, so a local path, a glob
(``landing/2026-11-28/train*.csv``) and a ``gs://`` URI are checked the same
way Spark will read them. Only the locations :mod:`mqttids.runtime.input_paths`
allows are opened, and messages quote no more of a file than a short,
labelled excerpt of its first line.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from mqttids.runtime import input_paths
from mqttids.schema import header_problem


class SourceError(ValueError):
    """An input file is missing, empty or not in MQTTset format."""


@dataclass(frozen=True)
class Source:
    """One split's input: a path, glob or URI, and the files it matched."""

    split: str
    uri: str
    files: tuple[str, ...]


def _hadoop_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return jvm, fs, path


def _expand(spark: SparkSession, uri: str) -> list[str]:
    """Files matching a path or glob; empty when nothing matches."""
    _, fs, path = _hadoop_path(spark, uri)
    statuses = fs.globStatus(path)
    if statuses is None:
        return []
    return sorted(str(s.getPath().toString()) for s in statuses if s.isFile())


def _first_lines(spark: SparkSession, uri: str, n: int = 2, scan: int = 1000) -> list[str]:
    """The first ``n`` non-blank lines (looking at most ``scan`` lines in)."""
    jvm, fs, path = _hadoop_path(spark, uri)
    stream = fs.open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines: list[str] = []
        for _ in range(scan):
            line = reader.readLine()
            if line is None or len(lines) == n:
                break
            if line.strip():
                lines.append(line)
        return lines
    finally:
        stream.close()


def file_uri(spark: SparkSession, file: str) -> str:
    """How Spark's ``_metadata.file_path`` spells a file: as a URI, percent-encoded."""
    _, _, path = _hadoop_path(spark, file)
    return str(path.toUri().toString())


def check_file(spark: SparkSession, split: str, uri: str) -> None:
    """Raise SourceError unless the file has the MQTTset header and at least one row."""
    lines = _first_lines(spark, uri)
    if not lines:
        raise SourceError(f"{split} file {uri} is empty: expected the MQTTset header and rows")
    problem = header_problem(lines[0])
    if problem:
        raise SourceError(
            f"{split} file {uri} is not an MQTTset CSV: it {problem} "
            f"(header excerpt: {input_paths.excerpt(lines[0])})"
        )
    if len(lines) < 2:
        raise SourceError(f"{split} file {uri} has a header but no data rows")


def resolve(spark: SparkSession, split: str, uri: str) -> Source:
    """Expand and check one split's input, or raise SourceError (InputNotAllowed for a refused place)."""
    input_paths.check(uri, f"{split} input")
    files = _expand(spark, uri)
    if not files:
        raise SourceError(f"{split} file not found: {uri}")
    for file in files:
        input_paths.check_matched(file, f"{split} input")
        check_file(spark, split, file)
    return Source(split=split, uri=uri, files=tuple(files))
