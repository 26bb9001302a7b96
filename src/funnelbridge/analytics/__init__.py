"""Analytics: funnel specs and Ibis expressions that run on every engine (DuckDB, SQLite, PostgreSQL, Spark)."""
