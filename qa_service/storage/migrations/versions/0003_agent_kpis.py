"""agent KPIs, and a small per-report summary for performance records

Revision ID: 0003
Revises: 0002

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from qa_service.storage.migrations.frozen import UTCDateTime

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COUNTS = ("contacts", "frt_within_target", "fcr_resolved", "csat_responses", "csat_satisfied", "nps_promoters",
          "nps_passives", "nps_detractors", "transfers", "escalations", "complaints", "repeat_complaints",
          "recontacts", "consultations", "orders")
NUMBERS = ("frt_seconds_mean", "aht_seconds_mean", "csat_score_mean", "sales_amount", "supervisor_rating",
           "peer_rating")
BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "agent_kpis",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(length=200), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("team_id", sa.String(length=200), sa.ForeignKey("teams.id"), nullable=True),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        *[sa.Column(c, sa.Integer(), nullable=True) for c in COUNTS],
        *[sa.Column(c, sa.Float(), nullable=True) for c in NUMBERS],
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_id", "date_from", "date_to", name="uq_agent_kpis_agent_dates"),
    )
    op.create_index("ix_agent_kpis_dates", "agent_kpis", ["date_from", "date_to"])
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("summary", sa.JSON(), nullable=True))
    _backfill_summaries()


def _backfill_summaries() -> None:
    """Reports written before this revision get their summary from the stored dimension details."""
    from qa_service.storage.migrations.frozen import report_summary_0003 as report_summary

    conn = op.get_bind()
    reports = sa.table("reports", sa.column("id", sa.Integer), sa.column("dimensions", sa.JSON),
                       sa.column("summary", sa.JSON))
    flags = sa.table("flags", sa.column("report_id", sa.Integer))
    flagged = {r for (r,) in conn.execute(sa.select(flags.c.report_id).distinct())}
    last = 0
    while True:
        rows = conn.execute(sa.select(reports.c.id, reports.c.dimensions).where(reports.c.id > last)
                            .order_by(reports.c.id).limit(BATCH)).all()
        if not rows:
            return
        for rid, dims in rows:
            conn.execute(reports.update().where(reports.c.id == rid)
                         .values(summary=report_summary(dims or {}, rid in flagged)))
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("summary")
    op.drop_index("ix_agent_kpis_dates", table_name="agent_kpis")
    op.drop_table("agent_kpis")
