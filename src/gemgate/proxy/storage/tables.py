"""The database tables (SQLAlchemy Core): virtual keys, teams, spend logs and their totals.

The schema itself is created and changed by the Alembic migrations in `migrations/versions/`;
these definitions must match them (a test compares the two).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gemgate.proxy.storage.column_types import Money, UtcDateTime, json_type

metadata = MetaData()

# Alembic's own table, named for gemgate so a shared database can hold other apps' versions.
VERSION_TABLE = "gemgate_schema_version"

KEY_HASH_LENGTH = 64  # hex sha256

virtual_keys = Table(
    "virtual_keys",
    metadata,
    Column("key_hash", String(KEY_HASH_LENGTH), primary_key=True),
    Column("key_alias", Text),
    Column("models", json_type(), nullable=False),
    Column("max_budget", Money),
    Column("budget_duration", Text),
    Column("budget_reset_at", UtcDateTime),
    Column("spend", Money, nullable=False),
    Column("rpm_limit", Integer),
    Column("tpm_limit", Integer),
    Column("expires_at", UtcDateTime),
    Column("metadata", json_type(), nullable=False),
    Column("tags", json_type(), nullable=False),
    Column("user_id", Text),
    Column("team_id", Text),
    Column("blocked", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("revision", BigInteger, nullable=False),
    UniqueConstraint("key_alias", name="uq_virtual_keys_key_alias"),
    Index("ix_virtual_keys_user_id", "user_id"),
    Index("ix_virtual_keys_team_id", "team_id"),
    Index("ix_virtual_keys_revision", "revision"),
)

teams = Table(
    "teams",
    metadata,
    Column("team_id", Text, primary_key=True),
    Column("team_alias", Text),
    Column("models", json_type(), nullable=False),
    Column("max_budget", Money),
    Column("budget_duration", Text),
    Column("budget_reset_at", UtcDateTime),
    Column("spend", Money, nullable=False),
    Column("rpm_limit", Integer),
    Column("tpm_limit", Integer),
    Column("metadata", json_type(), nullable=False),
    Column("blocked", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Index("ix_teams_revision", "revision"),
)

spend_logs = Table(
    "spend_logs",
    metadata,
    Column("request_id", Text, primary_key=True),  # the gateway's own: unique
    Column("client_request_id", Text),  # the caller's x-request-id, when it sent one
    Column("key_hash", String(KEY_HASH_LENGTH)),
    Column("key_alias", Text),
    Column("user_id", Text),
    Column("team_id", Text),
    Column("end_user", Text),
    Column("model", Text, nullable=False),
    Column("deployment", Text),
    Column("route", Text, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("cost", Money, nullable=False),
    Column("tags", json_type(), nullable=False),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("end_time", UtcDateTime, nullable=False),
    # Every filter of /spend/logs is "this X, newest first".
    Index("ix_spend_logs_start_time", "start_time"),
    Index("ix_spend_logs_key_hash", "key_hash", "start_time"),
    Index("ix_spend_logs_user_id", "user_id", "start_time"),
    Index("ix_spend_logs_team_id", "team_id", "start_time"),
    Index("ix_spend_logs_model", "model", "start_time"),
)

# One row per (tag, request): filtering and grouping by tag without dialect-specific JSON queries.
spend_log_tags = Table(
    "spend_log_tags",
    metadata,
    Column("tag", Text, primary_key=True),
    Column(
        "request_id",
        Text,
        ForeignKey("spend_logs.request_id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

# All-time totals per tag, kept in step with spend_logs in the transaction that inserts them.
tag_spend = Table(
    "tag_spend",
    metadata,
    Column("tag", Text, primary_key=True),
    Column("spend", Money, nullable=False),
    Column("requests", BigInteger, nullable=False),
)

# Counters that number every change to keys and teams, so caches can ask "what changed since n".
revisions = Table(
    "revisions",
    metadata,
    Column("name", Text, primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

# Deleted keys and teams, with the revision of their deletion (the change feed's deletes).
tombstones = Table(
    "tombstones",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("record_id", Text, primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Index("ix_tombstones_revision", "kind", "revision"),
)
