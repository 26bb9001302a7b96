"""The demo's database: where it lives, starting it afresh (``--reset``), and where its ground truth goes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.engine import make_url

from funnelbridge.errors import ConfigError
from funnelbridge.store.db import Database, connect, normalize_url
from funnelbridge.store.tables import contacts, metadata

__all__ = ["prepare_store", "sqlite_path", "truth_path_for"]


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def truth_path_for(url: str) -> Path:
    """``<db file>.truth.csv`` beside a SQLite file; ``<database name>.truth.csv`` in the working directory else."""
    path = sqlite_path(url)
    if path is not None:
        return path.with_name(path.name + ".truth.csv")
    name = make_url(normalize_url(url)).database or "funnelbridge-demo"
    return Path(f"{name}.truth.csv")


def _drop_everything(db: Database) -> None:
    with db.engine.begin() as conn:
        metadata.drop_all(conn)
        if "alembic_version" in inspect(conn).get_table_names():
            Table("alembic_version", MetaData()).drop(conn)


def _has_contacts(db: Database) -> bool:
    if "contacts" not in db.table_names():
        return False
    with db.read() as conn:
        return bool(conn.execute(select(func.count()).select_from(contacts)).scalar_one())


def prepare_store(url: str, *, reset: bool) -> None:
    """With ``reset``, remove the demo database (SQLite: the file; others: every funnelbridge table); without it,
    refuse to simulate into a store that already holds contacts."""
    path = sqlite_path(url)
    if reset and path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    db = connect(url)
    try:
        if reset:
            _drop_everything(db)
        elif _has_contacts(db):
            raise ConfigError(f"{url} already holds contacts; run the demo with --reset to start it afresh")
    finally:
        db.dispose()
