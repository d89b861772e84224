"""learned findings: a detector's probability and model version, review items (uncertain); the scorecard
version of each report

Revision ID: 0006
Revises: 0005

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("probability", sa.Float(), nullable=True))
        batch.add_column(sa.Column("model", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("uncertain", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("scorecard_version", sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("scorecard_version")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("uncertain")
        batch.drop_column("model")
        batch.drop_column("probability")
