"""reviewer email: the explicit link to a Label Studio account

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reviewers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_reviewers_email'), ['email'])


def downgrade() -> None:
    with op.batch_alter_table('reviewers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_reviewers_email'), type_='unique')
        batch_op.drop_column('email')
