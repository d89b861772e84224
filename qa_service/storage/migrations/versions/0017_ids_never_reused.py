"""ids never handed out twice on SQLite: transcripts, reviews, findings, manual findings, appeals, audit events,
live alerts and alert deliveries number their rows with AUTOINCREMENT

Was: SQLite gave a new row the highest stored id + 1, so erasing the newest conversation (``qa erase``, ``DELETE
/v1/transcripts/{id}``), or purging, freed its id and the next conversation got it: a CRM that kept "id 1073 is
case UPD-1" then read another conversation's report (found by an integrator probe, 2026-11-30). The same held
for the ids the API hands out with a conversation (its review, findings, manual findings, appeals, audit events,
live alerts, alert deliveries), all deleted with it. PostgreSQL's sequences never hand an id out twice: nothing
to do there.

Each table is rebuilt (Alembic's batch mode: a copy, the old table dropped, the copy renamed, its indexes made
again) with foreign keys off, as the migrations' ``env.py`` runs SQLite migrations (else dropping the old
``transcripts`` would delete every row referring to it). Its ``sqlite_sequence`` row starts at the highest id
stored, and for transcripts at least at the highest id an erasure's audit event names (an erasure before this
revision had freed it). Utterances, reports and flags keep rowids: no client holds their ids. Measured on
100,000 transcripts: docs/production.md.

Downgrade: the same tables rebuilt without AUTOINCREMENT (their ``sqlite_sequence`` rows go with the old tables).

Revision ID: 0017
Revises: 0016

"""
from typing import Sequence, Union

from alembic import op

revision: str = "0017"
down_revision: Union[str, Sequence[str], None] = "0016"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Parents before children (rebuilding is the same either way with foreign keys off; this reads naturally).
TABLES = ("transcripts", "reviews", "findings", "manual_findings", "appeals", "audit_events", "live_alerts",
          "alert_deliveries")
# The ids revision 0016's erasures named in their audit event (ingest/erasure.py as it was written).
_ERASED_IDS = ("SELECT max(CAST(j.value AS INTEGER)) FROM audit_events a, json_each(CASE WHEN json_valid(a.\"after\") "
               "THEN a.\"after\" ELSE '{}' END, '$.transcript_ids') j WHERE a.action = 'transcripts_erased'")


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("revision 0017 rebuilds tables and needs SQLite's foreign keys off (the migrations' "
                           "env.py turns them off): with them on, dropping the old tables deletes what refers to them")
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def _seed() -> None:
    """Each table's sequence at least at its highest id (the copy set it so already), transcripts' at least at the
    highest id erased."""
    bind = op.get_bind()
    for table in TABLES:
        top = [bind.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar(),
               bind.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).scalar()]
        if table == "transcripts":
            top.append(bind.exec_driver_sql(_ERASED_IDS).scalar())
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                             (table, max(int(v) for v in top if v is not None) if any(v is not None for v in top)
                              else 0))


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    _rebuild(autoincrement=True)
    _seed()


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    _rebuild(autoincrement=False)
