"""Database adapter: tables (``models``), engines and sessions, migrations, and the one raw-SQL layer
the hot paths use (``sql``: the driver; ``bulk``: batched writes; ``shared``: reads several
capabilities share)."""
