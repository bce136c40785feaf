"""Building the SparkSession every job uses, and finding the JDBC driver.

Under ``spark-submit`` (Airflow's SparkSubmitOperator, or Dataproc) the
master and jars come from the command line and nothing here overrides
them. Run as plain ``python jobs/<name>.py`` (tests, quick local use), the
session gets ``MQTTIDS_SPARK_MASTER`` and the PostgreSQL JDBC driver found by
:func:`jdbc_jar`, falling back to Maven through ``spark.jars.packages``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from mqttids.runtime import config

log = logging.getLogger(__name__)

DEBIAN_JDBC_JAR = Path("/usr/share/java/postgresql.jar")


class JavaMissing(RuntimeError):
    """Spark needs a Java runtime (17 or newer) and none was found."""


def check_java() -> None:
    """Fail early, and clearly, when there is no Java for Spark."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return
    if shutil.which("java"):
        return
    raise JavaMissing(
        "Spark needs Java 17+: install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) "
        "or set JAVA_HOME"
    )


def jdbc_jar() -> str | None:
    """The PostgreSQL JDBC jar: POSTGRES_JDBC_JAR, else Debian's, else None (use Maven)."""
    configured = config.JDBC_JAR.get()
    if configured:
        if not Path(configured).is_file():
            raise FileNotFoundError(f"POSTGRES_JDBC_JAR points to a missing file: {configured}")
        return configured
    return str(DEBIAN_JDBC_JAR) if DEBIAN_JDBC_JAR.is_file() else None


def jdbc_conf() -> dict[str, str]:
    """Spark settings that put the JDBC driver on the classpath."""
    jar = jdbc_jar()
    if jar:
        return {"spark.jars": jar, "spark.driver.extraClassPath": jar}
    log.info(
        "no local PostgreSQL JDBC jar (set POSTGRES_JDBC_JAR or apt-get install "
        "libpostgresql-jdbc-java); fetching %s from Maven",
        config.JDBC_PACKAGE.get(),
    )
    return {"spark.jars.packages": config.JDBC_PACKAGE.get()}


def session(app_name: str, *, jdbc: bool = False) -> SparkSession:
    """The job's SparkSession, configured for local runs unless spark-submit did it."""
    check_java()
    # Python workers must run the interpreter that has pyarrow and psycopg2.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if not _launched_by_spark_submit():
        builder = builder.master(config.SPARK_MASTER.get())
        if jdbc:
            for key, value in jdbc_conf().items():
                builder = builder.config(key, value)
    # Spark's UI listens on every interface and shows the job's configuration: off unless asked for,
    # under spark-submit too (set here, it overrides what the command line said).
    ui = config.SPARK_UI.get().lower() == "true"
    builder = builder.config("spark.ui.enabled", "true" if ui else "false")
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    # Tasks that write to PostgreSQL must not run twice at once.
    builder = builder.config("spark.speculation", "false")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _launched_by_spark_submit() -> bool:
    """True when a JVM gateway was started for us by spark-submit."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
