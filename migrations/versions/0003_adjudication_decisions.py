"""adjudication decisions: required verdicts, verdict count, decision log, queue indexes

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('required', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('verdicts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('tied', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('decision', sa.String(length=16), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_review_tasks_queue', ['kind', 'status', 'id'], unique=False)
    # existing tasks: overlap held the current requirement (the old tie rule raised it in place)
    op.execute("UPDATE review_tasks SET required = overlap")
    op.execute("UPDATE review_tasks SET verdicts = (SELECT count(*) FROM reviews WHERE reviews.task_id = review_tasks.id)"
               " WHERE kind = 'adjudication'")
    op.execute("UPDATE review_tasks SET verdicts = (SELECT count(DISTINCT ratings.rater) FROM ratings"
               " WHERE ratings.response_id = review_tasks.response_id AND ratings.rater_kind = 'human')"
               " WHERE kind = 'rating'")
    with op.batch_alter_table('task_locks', schema=None) as batch_op:
        batch_op.create_index('ix_task_locks_task_expires', ['task_id', 'expires_at'], unique=False)
    op.create_table('task_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('from_task_status', sa.String(length=16), nullable=False),
    sa.Column('to_task_status', sa.String(length=16), nullable=False),
    sa.Column('accepts', sa.Integer(), nullable=False),
    sa.Column('rejects', sa.Integer(), nullable=False),
    sa.Column('how', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], name=op.f('fk_task_decisions_reviewer_id_reviewers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['review_tasks.id'], name=op.f('fk_task_decisions_task_id_review_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_decisions'))
    )
    with op.batch_alter_table('task_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_decisions_task_id'), ['task_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_decisions_task_id'))
    op.drop_table('task_decisions')
    with op.batch_alter_table('task_locks', schema=None) as batch_op:
        batch_op.drop_index('ix_task_locks_task_expires')
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_review_tasks_queue')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decision')
        batch_op.drop_column('tied')
        batch_op.drop_column('verdicts')
        batch_op.drop_column('required')
