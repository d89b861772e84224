"""qa_facts read by index: the day/agent index carries the score (a period's score distributions read
the index alone, not every fact's row), and a partial index finds the few facts with plugin scorers'
dimensions without reading the period's every row (SQLite did both per row: 0.55 s of a 100k page)

Revision ID: 0011
Revises: 0010

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

EXTRA = sa.text("extra_dims IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_qa_facts_day_agent", table_name="qa_facts")
    op.create_index("ix_qa_facts_day_agent", "qa_facts", ["day", "agent_id", "score"])
    op.create_index("ix_qa_facts_extra_dims", "qa_facts", ["day"], postgresql_where=EXTRA, sqlite_where=EXTRA)


def downgrade() -> None:
    op.drop_index("ix_qa_facts_extra_dims", table_name="qa_facts")
    op.drop_index("ix_qa_facts_day_agent", table_name="qa_facts")
    op.create_index("ix_qa_facts_day_agent", "qa_facts", ["day", "agent_id"])
