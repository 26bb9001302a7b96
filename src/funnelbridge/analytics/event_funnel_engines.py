"""Analytics engines: connect to one by name, load a pandas frame into it, and what each cannot do.

Every analytics expression is written once in Ibis and runs unchanged on these engines. What an engine cannot
run is listed in :data:`UNSUPPORTED` with the fallback funnelbridge uses; asking for something without a
fallback raises :class:`~funnelbridge.errors.EngineError` naming the engine and the reason.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from funnelbridge.errors import EngineError

__all__ = ["ENGINES", "UNSUPPORTED", "connect", "load_frame", "spark_session"]

ENGINES = ("duckdb", "sqlite", "postgres", "spark")

#: engine -> {operation: fallback}. The event-funnel expressions avoid every listed operation.
UNSUPPORTED: dict[str, dict[str, str]] = {
    "duckdb": {},
    "sqlite": {
        "sub-second timestamps (microsecond())": "the loader stores ts_us (epoch microseconds) as an integer",
        "median/quantile aggregates": "exact median via row_number() over a window (same code on every engine)",
        "timezone-aware timestamps": "timestamps are normalised to UTC before loading; funnels use ts_us",
    },
    "postgres": {
        "median without percentile_cont in Ibis windows": "exact median via row_number() over a window",
    },
    "spark": {
        "exact median (only percentile_approx in older Spark)": "exact median via row_number() over a window",
        "session time zone drift": "the session is created with spark.sql.session.timeZone=UTC; funnels use ts_us",
        "persistent tables without a warehouse": "events go through a temporary Parquet file into a temp view",
        "pandas >= 3 conversions (PySpark warns)": "frames are never converted by PySpark; Parquet is the bridge",
        "cached stages keep their lineage (plans grow with the stages)": "stages are local checkpoints",
    },
}


def spark_session(**conf: str) -> Any:
    """A small local SparkSession (UTC, no UI, 2 shuffle partitions); raises EngineError without pyspark."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("spark: pyspark is not installed (pip install 'funnelbridge[spark]')") from None
    builder = SparkSession.builder.master("local[2]").appName("funnelbridge")
    settings = {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": "2g",
        **conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def connect(engine: str, url: str | None = None, *, session: Any = None) -> Any:
    """An Ibis backend for ``engine``; ``url`` for postgres (``postgresql://user@host:port/db``)."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    try:
        if engine == "duckdb":
            return ibis.duckdb.connect()
        if engine == "sqlite":
            return ibis.sqlite.connect()
        if engine == "postgres":
            return ibis.connect(_postgres_url(url))
        with warnings.catch_warnings():  # PySpark 4 warns about pandas 3; funnels never hand it a pandas frame
            warnings.filterwarnings(
                "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
            )
            return ibis.pyspark.connect(session if session is not None else spark_session())
    except EngineError:
        raise
    except Exception as exc:  # a driver error: say which engine and why, in one line
        raise EngineError(f"{engine}: cannot connect ({type(exc).__name__}: {exc})") from None


def _postgres_url(url: str | None) -> str:
    if not url:
        raise EngineError("postgres: give a database URL (--engine-url postgresql://user@host:port/db)")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgres", "postgresql"):
        raise EngineError(f"postgres: expected a postgresql:// URL, got {scheme or url!r}://...")
    return f"postgres://{rest}"


def load_frame(con: Any, frame: pd.DataFrame, name: str | None = None) -> ir.Table:
    """Load ``frame`` into the backend ``con`` as a temporary table (a temp view on Spark) and return it."""
    name = name or f"fb_events_{uuid.uuid4().hex[:12]}"
    if getattr(con, "name", "") == "pyspark":
        return _spark_view(con, frame, name)
    try:
        return con.create_table(name, frame, temp=True)
    except Exception as exc:
        raise EngineError(f"{getattr(con, 'name', 'engine')}: cannot load events ({exc})") from None


def _spark_view(con: Any, frame: pd.DataFrame, name: str) -> ir.Table:
    """Spark reads the frame from a temporary Parquet file (exact types, no pandas-3 conversion path)."""
    folder = Path(tempfile.mkdtemp(prefix="funnelbridge-spark-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    con._session.read.parquet(str(path)).createOrReplaceTempView(name)
    return con.table(name)
