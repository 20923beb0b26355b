"""database_identity.sync_secret: the key that signs every task pushed to Label Studio (only a task carrying this
database's signature is adopted or pulled as ours); labelstudio_imports: an import request whose reply has not been
recorded yet (its tasks carry the batch id, so the next push finds them instead of importing them again)

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('database_identity') as batch:
        batch.add_column(sa.Column('sync_secret', sa.String(length=64), nullable=True))
    op.create_table('labelstudio_imports',
    sa.Column('batch', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('task_ids', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('batch', name=op.f('pk_labelstudio_imports'))
    )


def downgrade() -> None:
    op.drop_table('labelstudio_imports')
    with op.batch_alter_table('database_identity') as batch:
        batch.drop_column('sync_secret')
