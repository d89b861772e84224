"""reads in SQL: qa_facts (one narrow row per scored transcript), the qa_daily and finding_counts
rollups, qa_meta; calibration scope (day, team) on reviews, verdicts and manual findings; queue-order
indexes

The new rows and columns are derived data: the application derives them from the reports and
reviews on its first start after this revision (``storage/facts.py: sync``), in the configured time
zone and first-response target.

Revision ID: 0008
Revises: 0007

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from qa_service.storage.migrations.frozen import UTCDateTime

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

DIMENSIONS = ("politeness", "compliance", "objection", "negativity", "timing", "sentiment")
TIMES = ("frt", "reply", "handling")
SCOPED = ("reviews", "verdicts", "manual_findings")


def upgrade() -> None:
    op.create_table(
        "qa_facts",
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("agent_id", sa.String(200)),
        sa.Column("team_id", sa.String(200)),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fatal", sa.Boolean(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        *(sa.Column(f"dim_{d}", sa.Float()) for d in DIMENSIONS),
        sa.Column("extra_dims", sa.JSON()),
        sa.Column("frt_ms", sa.Float()),
        sa.Column("reply_ms", sa.Float()),
        sa.Column("handling_ms", sa.Float()),
        sa.Column("final_score", sa.Float()),
        sa.Column("final_fatal", sa.Boolean()),
        *(sa.Column(f"final_{d}", sa.Float()) for d in DIMENSIONS),
        sa.Column("final_extra_dims", sa.JSON()),
    )
    op.create_index("ix_qa_facts_day_agent", "qa_facts", ["day", "agent_id"])
    op.create_index("ix_qa_facts_agent_day", "qa_facts", ["agent_id", "day"])
    op.create_index("ix_qa_facts_team_day", "qa_facts", ["team_id", "day"])
    op.create_table(
        "qa_daily",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("agent_key", sa.String(200), primary_key=True),
        sa.Column("team_key", sa.String(200), primary_key=True),
        *(sa.Column(c, sa.Integer(), nullable=False) for c in ("n",)),
        *(sa.Column(c, sa.Float(), nullable=False) for c in ("total", "total_sq")),
        *(sa.Column(c, sa.Integer(), nullable=False) for c in ("fatal", "flagged")),
        sa.Column("e_total", sa.Float(), nullable=False),
        *(sa.Column(f"dim_{d}_{k}", sa.Float() if k == "sum" else sa.Integer(), nullable=False)
          for d in DIMENSIONS for k in ("sum", "n")),
        *(sa.Column(f"{t}_{k}", sa.Float() if k == "sum" else sa.Integer(), nullable=False)
          for t in TIMES for k in ("sum", "n")),
        sa.Column("frt_within", sa.Integer(), nullable=False),
    )
    op.create_index("ix_qa_daily_agent_day", "qa_daily", ["agent_key", "day"])
    op.create_index("ix_qa_daily_team_day", "qa_daily", ["team_key", "day"])
    op.create_table(
        "finding_counts",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("team_key", sa.String(200), primary_key=True),
        sa.Column("rule_id", sa.String(200), primary_key=True),
        sa.Column("dimension", sa.String(50), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.create_table("qa_meta", sa.Column("key", sa.String(100), primary_key=True),
                    sa.Column("value", sa.Text(), nullable=False))
    for table in SCOPED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("day", sa.Date(), nullable=True))
            batch.add_column(sa.Column("team_id", sa.String(200), nullable=True))
            if table == "reviews":
                batch.add_column(sa.Column("pass_mark", sa.Float(), nullable=True))
    op.create_index("ix_reviews_day_team", "reviews", ["day", "team_id", "status"])
    op.create_index("ix_verdicts_day_team", "verdicts", ["day", "team_id", "rule_id", "dimension", "verdict"])
    op.create_index("ix_manual_findings_day_team", "manual_findings", ["day", "team_id"])
    for name, cols, where in (("ix_reviews_open_order", ["priority", "created_at", "id"],
                               "status IN ('queued', 'in_review')"),
                              ("ix_reviews_done_order", ["completed_at", "id"], "status = 'done'")):
        op.create_index(name, "reviews", cols, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade() -> None:
    op.drop_index("ix_reviews_done_order", table_name="reviews")
    op.drop_index("ix_reviews_open_order", table_name="reviews")
    op.drop_index("ix_manual_findings_day_team", table_name="manual_findings")
    op.drop_index("ix_verdicts_day_team", table_name="verdicts")
    op.drop_index("ix_reviews_day_team", table_name="reviews")
    for table in SCOPED:
        with op.batch_alter_table(table) as batch:
            if table == "reviews":
                batch.drop_column("pass_mark")
            batch.drop_column("team_id")
            batch.drop_column("day")
    op.drop_table("qa_meta")
    op.drop_table("finding_counts")
    op.drop_table("qa_daily")
    op.drop_index("ix_qa_facts_team_day", table_name="qa_facts")
    op.drop_index("ix_qa_facts_agent_day", table_name="qa_facts")
    op.drop_index("ix_qa_facts_day_agent", table_name="qa_facts")
    op.drop_table("qa_facts")
