"""A row id the API takes — in a path, a query or a body — as one type with one limit, for every route.

Every id column is a 32-bit ``INTEGER`` (int4 on PostgreSQL; SQLite's are 64-bit, but a row there gets no
id PostgreSQL could not hold either). An id from 1 to 2,147,483,647 is looked up (a 404 or a team's 403 as
usual); anything else is a 422 naming the field, whatever the database and whether or not such a row could
exist — so a team-scoped key learns nothing from it. Was: ids were checked against 2⁶³ − 1 (and in a few
places not at all), so 2³¹ … 2⁶³ − 1 reached PostgreSQL and came back as a 500 with a traceback
("integer out of range")."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le

ID_MAX = 2**31 - 1  # the largest value a 32-bit id column holds
Id = Annotated[int, Ge(1), Le(ID_MAX)]  # a field or a parameter: Annotated[Id, Path()], Id | None, list[Id], …
