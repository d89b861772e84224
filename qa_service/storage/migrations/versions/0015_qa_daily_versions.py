"""scored transcripts per day, team and scoring version: the qa_daily_versions rollup counts them per rule pack,
pack version and scorecard version, so a period whose reports mix scorings (made before and after an upgrade)
is told from a few hundred rows, and appraisals and performance records warn of it

Filled here from the facts and the reports they came from (one pass over both); written with the facts from
then on. Derived data: the downgrade drops it, nothing else is lost.

Revision ID: 0015
Revises: 0014

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: Union[str, Sequence[str], None] = "0014"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "qa_daily_versions",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("team_key", sa.String(200), primary_key=True),
        sa.Column("rule_pack", sa.String(200), primary_key=True),
        sa.Column("rule_pack_version", sa.String(50), primary_key=True),
        sa.Column("scorecard_version", sa.String(50), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO qa_daily_versions (day, team_key, rule_pack, rule_pack_version, scorecard_version, n) "
        "SELECT f.day, COALESCE(f.team_id, ''), COALESCE(r.rule_pack, ''), COALESCE(r.rule_pack_version, ''), "
        "COALESCE(r.scorecard_version, ''), COUNT(*) FROM qa_facts f JOIN reports r ON r.transcript_id = "
        "f.transcript_id GROUP BY f.day, COALESCE(f.team_id, ''), COALESCE(r.rule_pack, ''), "
        "COALESCE(r.rule_pack_version, ''), COALESCE(r.scorecard_version, '')")


def downgrade() -> None:
    op.drop_table("qa_daily_versions")
