"""Files as Spark sees them: listed, globbed and opened through Hadoop's FileSystem API.

A job that reads its inputs with Spark must check them the same way, before any task starts: a
local path, a glob and a ``gs://`` URI (through the GCS connector on Dataproc) are then one code
path, and a ``.gz``/``.bz2`` file is decompressed by the codec Spark's reader would pick.
Ingest plans its loads and detection finds its captures with these functions.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

HEAD_BYTES = 1 << 16  # enough for any header line (and usually a first row) or a small manifest


def _hadoop_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return jvm, fs, path


def glob(spark: SparkSession, uri: str) -> list[str]:
    """Files matching a path or glob, as URIs (``file:/...`` for local ones), sorted; empty when none."""
    _, fs, path = _hadoop_path(spark, uri)
    statuses = fs.globStatus(path)
    if statuses is None:
        return []
    return sorted(str(s.getPath().toString()) for s in statuses if s.isFile())


def is_folder(spark: SparkSession, uri: str) -> bool:
    _, fs, path = _hadoop_path(spark, uri)
    return bool(fs.exists(path) and fs.getFileStatus(path).isDirectory())


def listing(spark: SparkSession, folder: str) -> list[str]:
    """The files directly in a folder, hidden ones (``.name``, ``_name``) left out, sorted."""
    _, fs, path = _hadoop_path(spark, folder)
    found = [s.getPath() for s in fs.listStatus(path) if s.isFile()]
    return sorted(str(p.toString()) for p in found if not p.getName().startswith((".", "_")))


def read_head(spark: SparkSession, uri: str, size: int = HEAD_BYTES, decompress: bool = True) -> bytes:
    """The first ``size`` bytes of a file, decompressed by its name as Spark's reader would."""
    jvm, fs, path = _hadoop_path(spark, uri)
    stream = fs.open(path)
    if decompress:
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
            spark.sparkContext._jsc.hadoopConfiguration()
        ).getCodec(path)
        stream = codec.createInputStream(stream) if codec is not None else stream
    try:
        return bytes(stream.readNBytes(size))  # py4j hands a byte[] over by value
    finally:
        stream.close()


def file_uri(spark: SparkSession, file: str) -> str:
    """How Spark's ``_metadata.file_path`` spells a file: as a URI, percent-encoded."""
    _, _, path = _hadoop_path(spark, file)
    return str(path.toUri().toString())
