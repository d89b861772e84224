"""Live conversation ids handed out, as far as the database knows: the floor a new Redis counter starts from.

Redis hands out live conversation ids (one ``INCR`` per conversation, on the live path). A Redis that
comes back empty — restarted without its data, or a new one — would start again from the highest id the
database holds alerts for, and hand out again the ids of conversations that raised none: a platform still
feeding its call under such an id would then write into a stranger's conversation. So ids are reserved
in the database in blocks (hi/lo): before an id above the reserved mark is handed out, the mark moves a
block past it, one write per ``BLOCK`` conversations, and a counter that starts again starts above it.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from qa_service.storage.alerts import max_conversation_id
from qa_service.storage.fact_tables import Meta
from qa_service.storage.sqlite_writer import begin_write

KEY = "live_conversation_ids_reserved"
BLOCK = 1000


def floors(*, session: Session) -> tuple[int, int]:
    """(the reserved mark: a counter that starts again starts here; the highest id alerts are stored for:
    the counter never goes below it)."""
    row = session.get(Meta, KEY)
    return (int(row.value) if row is not None else 0), max_conversation_id(session=session)


def reserve(*, session: Session, through: int) -> None:
    """Move the reserved mark a block past ``through`` unless it is there already (the caller commits, and
    hands ``through`` out only after that). Several API processes take turns: PostgreSQL's advisory lock,
    SQLite's one writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('qa_live_conversation_ids'))"))
    else:
        begin_write(session.connection())
    current = session.scalar(select(Meta.value).where(Meta.key == KEY))
    if current is None:
        session.add(Meta(key=KEY, value=str(through + BLOCK)))
    elif int(current) < through:
        session.get(Meta, KEY).value = str(through + BLOCK)
