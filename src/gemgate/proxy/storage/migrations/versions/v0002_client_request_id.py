"""Spend-log rows keep the caller's own `x-request-id` beside the gateway's unique request id.

Revision ID: 0002
Revises: 0001
Created: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("spend_logs", sa.Column("client_request_id", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spend_logs") as table:
        table.drop_column("client_request_id")
