"""The web UI's routes: pages and login, under /ui."""

from __future__ import annotations

from fastapi import APIRouter

from qa_service.ui import live, login, pages

router = APIRouter()
router.include_router(live.router)
router.include_router(pages.router)
router.include_router(login.router)
