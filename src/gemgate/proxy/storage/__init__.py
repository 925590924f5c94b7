"""Storage for virtual keys, teams and spend: SQLAlchemy Core over SQLite (default) or PostgreSQL,
migrated by Alembic, with spend written through a durable local journal."""
