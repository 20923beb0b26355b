"""kg_facts: the item knowledge graph (movie -[genre|star|director|writer]-> entity)

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kg_facts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('movie_id', sa.Integer(), nullable=False),
    sa.Column('relation', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=512), nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['movie_id'], ['movies.id'], name=op.f('fk_kg_facts_movie_id_movies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kg_facts')),
    sa.UniqueConstraint('movie_id', 'relation', 'entity', name=op.f('uq_kg_facts_movie_id_relation_entity'))
    )
    with op.batch_alter_table('kg_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kg_facts_movie_id'), ['movie_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kg_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kg_facts_movie_id'))
    op.drop_table('kg_facts')
