"""Dependencies as Annotated aliases; everything comes from ``app.state``, built by create_app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import redis
from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from qa_service.config import Settings


# Trivial lookups are ``async def`` so FastAPI calls them inline instead of hopping to a thread.
async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


async def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
SessionDep = Annotated[Session, Depends(get_session)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]

# A row id in a path: a positive 64-bit integer (BIGINT / SQLite INTEGER); anything larger is a 422
# naming the parameter rather than an overflow inside the database driver.
ROW_ID_MAX = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
