"""The roles an API key can have (a module of its own: the CLI lists them without loading the service)."""

from __future__ import annotations

from typing import Literal, get_args

AccessRole = Literal["ingest", "reviewer", "supervisor", "hr", "admin"]
ROLES: tuple[str, ...] = get_args(AccessRole)
