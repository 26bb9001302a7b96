"""Schema migrations: upgrade/downgrade a store with Alembic, programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from funnelbridge.errors import StoreError
from funnelbridge.store.db import Database

__all__ = ["current_revision", "downgrade", "head_revision", "require_current", "upgrade"]

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
    """Raise StoreError unless the store is migrated to head."""
    current, head = current_revision(db), head_revision(db)
    if current != head:
        raise StoreError(
            f"the store at {db.engine.url.render_as_string()} is at schema {current or 'empty'}, "
            f"expected {head}: run `funnelbridge db upgrade`"
        )
