"""candidates.approve_posterior: the judge model's P(a reviewer approves | votes), for routing and the queue

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('candidates') as batch:
        batch.add_column(sa.Column('approve_posterior', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('candidates') as batch:
        batch.drop_column('approve_posterior')
