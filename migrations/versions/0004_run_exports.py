"""run-to-export lineage

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('run_exports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('export_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['export_id'], ['exports.id'], name=op.f('fk_run_exports_export_id_exports'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['training_runs.id'], name=op.f('fk_run_exports_run_id_training_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_exports')),
    sa.UniqueConstraint('run_id', 'path', name=op.f('uq_run_exports_run_id_path'))
    )
    with op.batch_alter_table('run_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_exports_export_id'), ['export_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_run_exports_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_exports_run_id'))
        batch_op.drop_index(batch_op.f('ix_run_exports_export_id'))
    op.drop_table('run_exports')
