"""human review: review queue, verdicts, manual findings, appeals, audit trail; reports.pass_mark

Revision ID: 0004
Revises: 0003

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from qa_service.storage.migrations.frozen import UTCDateTime

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("pass_mark", sa.Float(), nullable=True))
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("sample_week", sa.String(length=10), nullable=True),
        sa.Column("assigned_to", sa.String(length=200), nullable=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=True),
        sa.Column("machine_score", sa.Float(), nullable=True),
        sa.Column("machine_fatal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("final_score", sa.Float(), nullable=True),
        sa.Column("final_fatal", sa.Boolean(), nullable=True),
        sa.Column("final_dims", sa.JSON(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("completed_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transcript_id"),
    )
    op.create_index("ix_reviews_status_priority", "reviews", ["status", "priority"])
    op.create_index("ix_reviews_assigned", "reviews", ["assigned_to", "status"])
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
        sa.Column("finding_id", sa.Integer(), sa.ForeignKey("findings.id", ondelete="SET NULL"), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("dimension", sa.String(length=50), nullable=False),
        sa.Column("rule_id", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("fatal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "finding_id", name="uq_verdicts_review_finding"),
    )
    op.create_index("ix_verdicts_review_id", "verdicts", ["review_id"])
    op.create_index("ix_verdicts_rule_id", "verdicts", ["rule_id"])
    op.create_table(
        "manual_findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dimension", sa.String(length=50), nullable=False),
        sa.Column("rule_id", sa.String(length=200), nullable=True),
        sa.Column("utterance_seq", sa.Integer(), nullable=False),
        sa.Column("span_start", sa.Integer(), nullable=False),
        sa.Column("span_end", sa.Integer(), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fatal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_manual_findings_review_id", "manual_findings", ["review_id"])
    op.create_index("ix_manual_findings_rule_id", "manual_findings", ["rule_id"])
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
        sa.Column("finding_id", sa.Integer(), sa.ForeignKey("findings.id", ondelete="SET NULL"), nullable=True),
        sa.Column("manual_finding_id", sa.Integer(), sa.ForeignKey("manual_findings.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("rule_id", sa.String(length=200), nullable=True),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("appellant", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appeals_review_id", "appeals", ["review_id"])
    op.create_index("ix_appeals_status_created", "appeals", ["status", "created_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=True),
        sa.Column("transcript_id", sa.Integer(), nullable=True),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_review_at", "audit_events", ["review_id", "at"])
    _enqueue_flagged()


def _enqueue_flagged() -> None:
    """Transcripts flagged before this revision enter the review queue, as newly flagged ones do."""
    from qa_service.storage.migrations.frozen import queue_entry_0004, utcnow

    conn = op.get_bind()
    flags = sa.table("flags", sa.column("transcript_id", sa.Integer), sa.column("reason", sa.String),
                     sa.column("severity", sa.String))
    reports = sa.table("reports", sa.column("transcript_id", sa.Integer), sa.column("score", sa.Float),
                       sa.column("fatal", sa.Boolean))
    by_transcript: dict[int, list[tuple[str, str]]] = {}
    for tid, reason, severity in conn.execute(sa.select(flags.c.transcript_id, flags.c.reason, flags.c.severity)):
        by_transcript.setdefault(tid, []).append((reason, severity))
    now = utcnow()
    rows = []
    for tid, score, fatal in conn.execute(sa.select(reports.c.transcript_id, reports.c.score, reports.c.fatal)):
        if tid in by_transcript:
            reasons, severity, priority = queue_entry_0004(by_transcript[tid])
            rows.append({"transcript_id": tid, "status": "queued", "reasons": reasons,
                         "severity": severity, "priority": priority, "machine_score": score,
                         "machine_fatal": bool(fatal), "created_at": now, "updated_at": now})
    if rows:
        types = {"reasons": sa.JSON(), "created_at": UTCDateTime(), "updated_at": UTCDateTime()}
        columns = [sa.column(k, types.get(k)) for k in rows[0]]
        conn.execute(sa.insert(sa.table("reviews", *columns)), rows)


def downgrade() -> None:
    op.drop_index("ix_audit_review_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_appeals_status_created", table_name="appeals")
    op.drop_index("ix_appeals_review_id", table_name="appeals")
    op.drop_table("appeals")
    op.drop_index("ix_manual_findings_rule_id", table_name="manual_findings")
    op.drop_index("ix_manual_findings_review_id", table_name="manual_findings")
    op.drop_table("manual_findings")
    op.drop_index("ix_verdicts_rule_id", table_name="verdicts")
    op.drop_index("ix_verdicts_review_id", table_name="verdicts")
    op.drop_table("verdicts")
    op.drop_index("ix_reviews_assigned", table_name="reviews")
    op.drop_index("ix_reviews_status_priority", table_name="reviews")
    op.drop_table("reviews")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("pass_mark")

