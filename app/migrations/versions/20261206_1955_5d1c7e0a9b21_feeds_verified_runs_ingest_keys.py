"""feeds: verified runs, ingest keys

Revision ID: 5d1c7e0a9b21
Revises: a1e974d55f4a
Create Date: 2026-12-06 19:55:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5d1c7e0a9b21'
down_revision: str | None = 'a1e974d55f4a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'station_ids',
                sa.JSON(),
                nullable=False,
                server_default='[]',
                comment='ingest scope (station ids it may push observations for)',
            )
        )
        batch_op.alter_column(
            'role',
            existing_type=sa.String(length=32),
            existing_nullable=False,
            comment='admin, duty_officer, city_office, coordinator or ingest',
            existing_comment='admin, duty_officer, city_office or coordinator',
        )
    with op.batch_alter_table('forecast_runs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'verified_at',
                sa.DateTime(timezone=True),
                nullable=True,
                comment='when the scheduler verified the run (its observations had arrived)',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.alter_column(
            'role',
            existing_type=sa.String(length=32),
            existing_nullable=False,
            comment='admin, duty_officer, city_office or coordinator',
            existing_comment='admin, duty_officer, city_office, coordinator or ingest',
        )
        batch_op.drop_column('station_ids')
    with op.batch_alter_table('forecast_runs', schema=None) as batch_op:
        batch_op.drop_column('verified_at')
