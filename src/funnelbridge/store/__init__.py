"""Storage: SQLAlchemy tables, engines/transactions, migrations and repositories."""

from funnelbridge.store.db import Database, connect

__all__ = ["Database", "connect"]
