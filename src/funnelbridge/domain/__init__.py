"""Pure domain values: no I/O."""
