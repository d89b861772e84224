"""Every table, registered on one ``Base.metadata`` (what migrations are compared with and tests truncate)."""

from __future__ import annotations

from qa_service.storage import alert_tables, fact_tables  # noqa: F401  (they register their tables)
from qa_service.storage.tables import Base

__all__ = ["Base"]
