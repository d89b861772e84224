"""fatal items: reports.fatal and findings.fatal

Revision ID: 0002
Revises: 0001

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("fatal", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("fatal", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("fatal")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("fatal")
