"""live transcripts: which transcript each live conversation became, so that a late /end (or turn) is answered
from the database when Redis has lost the ended conversation (restarted empty, or past its day)

Conversations that ended before this revision are backfilled from what the database already knows: each
alert of a live conversation records the transcript that conversation became (``live_alerts.transcript_id``).
Was: the table started empty, so a late ``/end`` of a conversation ended under the previous release was a 404
once Redis lost it. A transcript does not carry its live conversation's id, so a conversation that ended
without any alert before this revision cannot be recorded (docs/live.md says so).

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
    # An id given twice (a restore of an older backup) may pair with two transcripts: the newer one stands,
    # as recording an end does (a merge); it ended when its transcript was received.
    op.execute(
        "INSERT INTO live_transcripts (conversation_id, transcript_id, ended_at) "
        "SELECT p.conversation_id, t.id, t.received_at FROM ("
        " SELECT conversation_id, MAX(transcript_id) AS transcript_id FROM live_alerts"
        " WHERE transcript_id IS NOT NULL GROUP BY conversation_id) p "
        "JOIN transcripts t ON t.id = p.transcript_id")


def downgrade() -> None:
    op.drop_index("ix_live_transcripts_transcript_id", table_name="live_transcripts")
    op.drop_table("live_transcripts")
