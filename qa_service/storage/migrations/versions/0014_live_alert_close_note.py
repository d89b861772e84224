"""live alerts keep the closing note apart from the acknowledgement's: ``note`` is the one given at 介入,
``close_note`` the one given at 关闭, each at most what one request takes (2,000 characters)

Was: the closing note was appended to the acknowledgement's under ``note``, so nobody could tell which was
which and the field grew past the limit each request enforces (two notes of 2,000 characters stored
4,001). Alerts closed before this revision keep both in ``note`` (there is no telling them apart now).

Revision ID: 0014
Revises: 0013

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("live_alerts", sa.Column("close_note", sa.Text()))


def downgrade() -> None:
    # back into ``note`` as the release before kept it (the acknowledgement's, a line break, the closing one):
    # dropped as it was, every closing note written since was lost
    op.execute("UPDATE live_alerts SET note = CASE WHEN note IS NULL OR note = '' THEN close_note "
               "ELSE note || char(10) || close_note END WHERE close_note IS NOT NULL AND close_note <> ''"
               if op.get_context().dialect.name == "sqlite" else
               "UPDATE live_alerts SET note = CASE WHEN note IS NULL OR note = '' THEN close_note "
               "ELSE note || chr(10) || close_note END WHERE close_note IS NOT NULL AND close_note <> ''")
    with op.batch_alter_table("live_alerts") as batch:
        batch.drop_column("close_note")
