"""Schema migrations: upgrade/downgrade a store with Alembic, programmatically (no alembic.ini needed), and the
check an opened store gets (:func:`require_current`): at head, with every declared secondary index present."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Index, Select, column, func, inspect, select, table
from sqlalchemy.schema import CreateIndex

from funnelbridge.errors import StoreError
from funnelbridge.store.bulkload import declared_indexes, no_bulk_load, sorting_in_files
from funnelbridge.store.db import Database
from funnelbridge.store.tables import metadata

__all__ = [
    "current_revision",
    "downgrade",
    "head_revision",
    "require_current",
    "restore_missing_indexes",
    "upgrade",
]

_HERE = Path(__file__).parent / "migrations"


def _config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (head by default)."""
    with db.engine.begin() as conn:
        cfg = _config(db)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (empty by default)."""
    with db.engine.begin() as conn:
        cfg = _config(db)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(_config(db)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current(db: Database) -> None:
    """Raise StoreError unless the store is migrated to head; then recreate any declared secondary index it lacks
    (:func:`restore_missing_indexes`)."""
    current, head = current_revision(db), head_revision(db)
    if current != head:
        raise StoreError(
            f"the store at {db.engine.url.render_as_string()} is at schema {current or 'empty'}, "
            f"expected {head}: run `funnelbridge db upgrade`"
        )
    restore_missing_indexes(db)


_MASTER = table("sqlite_master", column("name"), column("type"))
_SQLITE_INDEXES: Select[tuple[str]] = select(_MASTER.c.name).where(_MASTER.c.type == "index")
_PG = table("pg_indexes", column("indexname"), column("schemaname"), schema="pg_catalog")
_PG_INDEXES: Select[tuple[str]] = select(_PG.c.indexname).where(_PG.c.schemaname == func.current_schema())


def _present(conn: Connection) -> set[str]:
    """Names of the store's indexes: one catalog query (SQLite, PostgreSQL), else the inspector per table."""
    if conn.dialect.name == "sqlite":
        return {str(n) for n in conn.execute(_SQLITE_INDEXES).scalars()}
    if conn.dialect.name == "postgresql":
        return {str(n) for n in conn.execute(_PG_INDEXES).scalars()}
    found = inspect(conn)
    return {str(ix["name"]) for t in metadata.tables.values() for ix in found.get_indexes(t.name)}


def _declared() -> list[Index]:
    """Every declared index, each table's unique ones first (a first bulk load may have left one missing)."""
    return [ix for t in metadata.sorted_tables for ix in declared_indexes(t)]


def restore_missing_indexes(db: Database) -> list[str]:
    """Create the indexes declared in :mod:`funnelbridge.store.tables` that the store lacks, unique ones first
    — a bulk load (:mod:`funnelbridge.store.bulkload`) killed while its indexes were dropped leaves them missing
    until this runs; returns their names. The check is one catalog query; a complete store gets no DDL. An index
    is built in one transaction (``CREATE INDEX IF NOT EXISTS``: another process opening the store at the same
    time does no harm), sorting in temporary files
    (:func:`~funnelbridge.store.bulkload.sorting_in_files`). Nothing while a bulk load runs on the store
    (:func:`~funnelbridge.store.bulkload.no_bulk_load`): its indexes are missing on purpose and it builds them."""
    with no_bulk_load(db.engine) as free:
        if not free:  # a load running: it builds them at its end
            return []
        with db.read() as conn:
            present = _present(conn)
        missing = [ix for ix in _declared() if ix.name not in present]
        if missing:
            with sorting_in_files(db.engine), db.transaction() as conn:  # SQLite: 3x faster at 10M events
                for ix in missing:
                    conn.execute(CreateIndex(ix, if_not_exists=True))
    return [str(ix.name) for ix in missing]
