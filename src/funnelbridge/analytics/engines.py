"""Analytics engines for the stage-funnel reports: one value that resolves to an Ibis backend with the store's
tables available.

Every report expression is written once against :meth:`Engine.table`; the engine decides where it runs:

* ``store``    — the store's own database (SQLite or PostgreSQL), no copy;
* ``sqlite`` / ``postgres`` — the same, but insisting on that kind of store;
* ``duckdb``   — an in-memory DuckDB; each table is copied in (Arrow) the first time it is asked for, from the store
  or from a Parquet export directory (``funnelbridge export --parquet DIR``);
* ``spark``    — a local PySpark session reading a Parquet export.

(The ordered event funnels load pandas frames through :mod:`funnelbridge.analytics.event_funnel_engines`; both
share the one local SparkSession that ``getOrCreate`` returns.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
from sqlalchemy import text
from sqlalchemy.engine import make_url

from funnelbridge.errors import EngineError
from funnelbridge.store.db import Database

__all__ = [
    "UNSUPPORTED",
    "Engine",
    "EngineKind",
    "Unsupported",
    "engine_for",
    "open_engine",
    "spark_session",
]


class EngineKind(StrEnum):
    STORE = "store"
    SQLITE = "sqlite"
    POSTGRES = "postgres"
    DUCKDB = "duckdb"
    SPARK = "spark"


@dataclass(frozen=True)
class Unsupported:
    """An operation an engine cannot run, and what the analytics code does instead."""

    operation: str
    fallback: str


UNSUPPORTED: dict[EngineKind, tuple[Unsupported, ...]] = {
    EngineKind.SQLITE: (
        Unsupported("quantile/median aggregates", "durations fetched per stage pair; exact quantiles in Python"),
        Unsupported("time-zone conversion of timestamps", "bucket boundaries precomputed in the playbook zone"),
        Unsupported("JSON array unnesting (transitions.skipped)", "membership test on the JSON text"),
    ),
    EngineKind.POSTGRES: (
        Unsupported("identical quantile interpolation", "durations fetched per stage pair; exact quantiles in Python"),
    ),
    EngineKind.DUCKDB: (
        Unsupported("reading the SQLite store directly (no offline sqlite_scanner)", "Arrow copy per table"),
    ),
    EngineKind.SPARK: (
        Unsupported("reading the store directly", "reads the Parquet export (`funnelbridge export --parquet DIR`)"),
        Unsupported("exact percentiles (approx_percentile only)", "exact quantiles in Python on durations"),
    ),
}


@dataclass
class Engine:
    """An Ibis backend plus how to get each store table on it. Use :func:`open_engine`."""

    kind: EngineKind
    con: Any
    _loader: Any = None
    _tables: dict[str, ir.Table] = field(default_factory=dict)
    _cache: dict[tuple[Any, ...], ir.Table] = field(default_factory=dict)

    def table(self, name: str) -> ir.Table:
        """The store table ``name`` as an Ibis table on this engine (copied in on first use for DuckDB)."""
        if name not in self._tables:
            self._tables[name] = self._loader(name) if self._loader else self.con.table(name)
        return self._tables[name]

    def cached(self, key: tuple[Any, ...], build: Any, *, materialize: bool = True) -> ir.Table:
        """``build()`` materialised once per engine and key (a temporary table; keeps queries shallow and fast).
        With ``materialize=False`` an existing materialisation is reused, else the plain expression is returned
        (for a one-off query, materialising first costs more than it saves)."""
        if key not in self._cache:
            if not materialize:
                return build()  # type: ignore[no-any-return]
            self._cache[key] = build().cache()
        return self._cache[key]

    def is_cached(self, key: tuple[Any, ...]) -> bool:
        """Is ``key`` materialised on this engine (see :meth:`cached`)?"""
        return key in self._cache

    @property
    def name(self) -> str:
        return self.kind.value

    def close(self) -> None:
        for cached in self._cache.values():
            cached.release()
        self._cache.clear()
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect is not None and self.kind is not EngineKind.SPARK:
            disconnect()


def _pg_schema(db: Database) -> str:
    with db.read() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def _store_backend(db: Database) -> Any:
    if db.is_sqlite:
        database = make_url(db.url).database
        if not database or database == ":memory:":
            raise EngineError("the store is an in-memory SQLite database; analytics needs a file or a server")
        return ibis.sqlite.connect(database)
    url = make_url(db.url)
    return ibis.postgres.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
        schema=_pg_schema(db),
    )


def _parquet_path(directory: Path, name: str) -> Path:
    path = directory / f"{name}.parquet"
    if not path.exists():
        raise EngineError(f"no Parquet export of table {name!r} in {directory} (run `funnelbridge export --parquet`)")
    return path


def _duckdb_engine(db: Database | None, parquet_dir: Path | None) -> Engine:
    duck = ibis.duckdb.connect()
    if parquet_dir is not None:
        directory = parquet_dir

        def load(name: str) -> ir.Table:
            return duck.read_parquet(str(_parquet_path(directory, name)), table_name=name)

        return Engine(EngineKind.DUCKDB, duck, load)
    if db is None:
        raise EngineError("duckdb needs a store or a Parquet directory")
    store = db

    def copy(name: str) -> ir.Table:
        from funnelbridge.analytics.export import table_to_arrow

        return duck.create_table(name, table_to_arrow(store, name))

    return Engine(EngineKind.DUCKDB, duck, copy)


def spark_session() -> Any:
    """The local SparkSession (UI off, 2 shuffle partitions, UTC session time zone)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - depends on the extra
        raise EngineError("the spark engine needs pyspark: pip install 'funnelbridge[spark]'") from None
    session = (
        SparkSession.builder.master("local[2]")
        .appName("funnelbridge")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _spark_engine(parquet_dir: Path | None) -> Engine:
    if parquet_dir is None:
        raise EngineError("the spark engine reads a Parquet export: run `funnelbridge export --parquet DIR` first")
    con = ibis.pyspark.connect(spark_session())
    directory = parquet_dir
    tag = abs(hash(str(directory))) % 10**8

    def load(name: str) -> ir.Table:
        return con.read_parquet(str(_parquet_path(directory, name)), table_name=f"fb{tag}_{name}")

    return Engine(EngineKind.SPARK, con, load)


def open_engine(
    db: Database | None, kind: EngineKind | str = EngineKind.STORE, *, parquet_dir: Path | str | None = None
) -> Engine:
    """Resolve ``kind`` to an :class:`Engine` over the store ``db`` (or a Parquet export for duckdb/spark)."""
    try:
        kind = EngineKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in EngineKind)
        raise EngineError(f"unknown engine {kind!r} (choose from {names})") from None
    directory = Path(parquet_dir) if parquet_dir is not None else None
    if kind is EngineKind.DUCKDB:
        return _duckdb_engine(db, directory)
    if kind is EngineKind.SPARK:
        return _spark_engine(directory)
    if db is None:
        raise EngineError(f"the {kind.value} engine runs on the store: give a database")
    if kind is EngineKind.SQLITE and not db.is_sqlite:
        raise EngineError("engine sqlite needs a SQLite store (this one is PostgreSQL); use store or duckdb")
    if kind is EngineKind.POSTGRES and db.is_sqlite:
        raise EngineError("engine postgres needs a PostgreSQL store (this one is SQLite); use store or duckdb")
    resolved = EngineKind.SQLITE if db.is_sqlite else EngineKind.POSTGRES
    return Engine(resolved, _store_backend(db))


@contextmanager
def engine_for(
    db: Database | None, kind: EngineKind | str = EngineKind.STORE, *, parquet_dir: Path | str | None = None
) -> Iterator[Engine]:
    """:func:`open_engine` as a context manager that closes the engine afterwards."""
    engine = open_engine(db, kind, parquet_dir=parquet_dir)
    try:
        yield engine
    finally:
        engine.close()
