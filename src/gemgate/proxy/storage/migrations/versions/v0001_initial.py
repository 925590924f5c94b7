"""Virtual keys, teams, spend logs with their tag rows and totals, and the change feed.

Revision ID: 0001
Revises:
Created: 2026-10-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here rather than imported, so this revision keeps meaning what it meant.
MONEY = sa.Numeric(28, 10).with_variant(sa.BigInteger(), "sqlite")
TIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
HASH = sa.String(64)


def _budget_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("models", JSON, nullable=False),
        sa.Column("max_budget", MONEY),
        sa.Column("budget_duration", sa.Text),
        sa.Column("budget_reset_at", TIME),
        sa.Column("spend", MONEY, nullable=False),
        sa.Column("rpm_limit", sa.Integer),
        sa.Column("tpm_limit", sa.Integer),
    ]


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "virtual_keys",
        sa.Column("key_hash", HASH, primary_key=True),
        sa.Column("key_alias", sa.Text),
        *_budget_columns(),
        sa.Column("expires_at", TIME),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("user_id", sa.Text),
        sa.Column("team_id", sa.Text),
        sa.Column("blocked", sa.Boolean, nullable=False),
        *_record_columns(),
        sa.UniqueConstraint("key_alias", name="uq_virtual_keys_key_alias"),
    )
    for column in ("user_id", "team_id", "revision"):
        op.create_index(f"ix_virtual_keys_{column}", "virtual_keys", [column])
    op.create_table(
        "teams",
        sa.Column("team_id", sa.Text, primary_key=True),
        sa.Column("team_alias", sa.Text),
        *_budget_columns(),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("blocked", sa.Boolean, nullable=False),
        *_record_columns(),
    )
    op.create_index("ix_teams_revision", "teams", ["revision"])
    _create_spend_tables()
    _create_change_feed()


def _create_spend_tables() -> None:
    op.create_table(
        "spend_logs",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("key_hash", HASH),
        sa.Column("key_alias", sa.Text),
        sa.Column("user_id", sa.Text),
        sa.Column("team_id", sa.Text),
        sa.Column("end_user", sa.Text),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("deployment", sa.Text),
        sa.Column("route", sa.Text, nullable=False),
        *[
            sa.Column(f"{kind}_tokens", sa.Integer, nullable=False)
            for kind in ("prompt", "completion", "cached", "reasoning")
        ],
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("start_time", TIME, nullable=False),
        sa.Column("end_time", TIME, nullable=False),
    )
    op.create_index("ix_spend_logs_start_time", "spend_logs", ["start_time"])
    for column in ("key_hash", "user_id", "team_id", "model"):
        op.create_index(f"ix_spend_logs_{column}", "spend_logs", [column, "start_time"])
    op.create_table(
        "spend_log_tags",
        sa.Column("tag", sa.Text, primary_key=True),
        sa.Column(
            "request_id",
            sa.Text,
            sa.ForeignKey("spend_logs.request_id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "tag_spend",
        sa.Column("tag", sa.Text, primary_key=True),
        sa.Column("spend", MONEY, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
    )


def _create_change_feed() -> None:
    revisions = op.create_table(
        "revisions",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(revisions, [{"name": "keys", "revision": 0}, {"name": "teams", "revision": 0}])
    op.create_table(
        "tombstones",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("record_id", sa.Text, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tombstones_revision", "tombstones", ["kind", "revision"])


def downgrade() -> None:
    for table in (
        "tombstones",
        "revisions",
        "tag_spend",
        "spend_log_tags",
        "spend_logs",
        "teams",
        "virtual_keys",
    ):
        op.drop_table(table)
