"""One SparkSession setup for every Spark job of the tool (`index --engine spark`,
`cf train --engine spark`): quiet on the console, local mode made to work on one machine,
and one clear line when Java or pyspark is missing. pyspark is an optional extra, imported
only when a job starts."""

from __future__ import annotations

import os

from embedsearch.errors import EmbedsearchError


def session(master: str = "local[2]", app: str = "embedsearch"):
    """A SparkSession for one job, quiet on the console (no progress bars, errors only); a
    value that does not parse becomes null (and is reported) instead of failing the job."""
    if master.startswith("local"):  # one machine: this Python runs the workers; no network name lookup
        import sys

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EmbedsearchError("the Spark engine needs pyspark: pip install 'embedsearch[spark]' "
                               "(and Java 17 on the PATH)") from None
    try:
        spark = (SparkSession.builder.master(master).appName(app)
                 .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                 .config("spark.sql.shuffle.partitions", "8")
                 .config("spark.sql.ansi.enabled", "false").getOrCreate())
    except Exception as exc:  # pyspark raises its own runtime errors when the JVM cannot start
        if "JAVA_GATEWAY_EXITED" in str(exc) or "Java gateway" in str(exc) or "JAVA_HOME" in str(exc):
            raise EmbedsearchError("Spark could not start Java: install Java 17 and put it on the PATH "
                                   "(or set JAVA_HOME)") from None
        raise EmbedsearchError(f"Spark could not start at {master!r}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark
