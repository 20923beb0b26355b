"""drafts (a reviewer's unsaved reason, edit or scores per task), guidelines (versioned, written by leads), and
ratings.score nullable (N/A: the rubric does not apply; left out of agreement)

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], name=op.f('fk_drafts_reviewer_id_reviewers'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['review_tasks.id'], name=op.f('fk_drafts_task_id_review_tasks'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drafts')),
    sa.UniqueConstraint('reviewer_id', 'task_id', name=op.f('uq_drafts_reviewer_id_task_id'))
    )
    op.create_table('guidelines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidelines')),
    sa.UniqueConstraint('version', name=op.f('uq_guidelines_version'))
    )
    with op.batch_alter_table('ratings') as batch:
        batch.drop_constraint(op.f('ck_ratings_score'), type_='check')
        batch.alter_column('score', existing_type=sa.Integer(), nullable=True)
        batch.create_check_constraint(op.f('ck_ratings_score'), 'score is null or score between 1 and 5')


def downgrade() -> None:
    op.execute("DELETE FROM ratings WHERE score IS NULL")
    with op.batch_alter_table('ratings') as batch:
        batch.drop_constraint(op.f('ck_ratings_score'), type_='check')
        batch.alter_column('score', existing_type=sa.Integer(), nullable=False)
        batch.create_check_constraint(op.f('ck_ratings_score'), 'score between 1 and 5')
    op.drop_table('guidelines')
    op.drop_table('drafts')
