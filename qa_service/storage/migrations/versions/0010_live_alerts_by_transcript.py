"""live alerts by transcript: purging conversations deletes their alerts (and the transcripts' foreign key
looks them up) through an index, not a scan per transcript

Revision ID: 0010
Revises: 0009

"""
from typing import Sequence, Union

from alembic import op

revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_live_alerts_transcript", "live_alerts", ["transcript_id"])


def downgrade() -> None:
    op.drop_index("ix_live_alerts_transcript", table_name="live_alerts")
