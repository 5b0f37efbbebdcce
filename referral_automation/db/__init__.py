"""Database adapter: tables, engine and session set-up, migrations, repositories."""
