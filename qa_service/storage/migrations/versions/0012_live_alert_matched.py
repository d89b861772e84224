"""live alerts keep the words a rule matched: an alert on a rule quotes its whole turn, as every alert does,
and ``matched`` holds the rule's words (the quote was those words alone)

Revision ID: 0012
Revises: 0011

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("live_alerts", sa.Column("matched", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("live_alerts") as batch:
        batch.drop_column("matched")
