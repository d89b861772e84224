"""erased transcripts: the (source, external_id) of each conversation erased on request (``qa erase``,
``DELETE /v1/transcripts/{id}``), so that the source system sending it again is refused (410 Gone) instead of
being stored anew. Only the key and when it was erased; nothing of the conversation.

Revision ID: 0016
Revises: 0015

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from qa_service.storage.migrations.frozen import UTCDateTime

revision: str = "0016"
down_revision: Union[str, Sequence[str], None] = "0015"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "erased_transcripts",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("external_id", sa.String(200), primary_key=True),
        sa.Column("erased_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erased_transcripts")
