"""Alembic's environment for gemgate: migrations run on the connection that
`gemgate.proxy.storage.database.upgrade_database` hands over, inside its transaction."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gemgate.proxy.storage.tables import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("gemgate's migrations run through `gemgate db upgrade`, not the alembic CLI")
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
