"""Alembic migrations of the store (run with :func:`funnelbridge.store.migrate.upgrade`)."""
