"""live transcripts: which transcript each live conversation became, so that a late /end (or turn) is answered
from the database when Redis has lost the ended conversation (restarted empty, or past its day)

Revision ID: 0013
Revises: 0012

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from qa_service.storage.migrations.frozen import UTCDateTime

revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "live_transcripts",
        sa.Column("conversation_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_live_transcripts_transcript_id", "live_transcripts", ["transcript_id"])


def downgrade() -> None:
    op.drop_index("ix_live_transcripts_transcript_id", table_name="live_transcripts")
    op.drop_table("live_transcripts")
