"""The ``qa`` command line: one module per command group (serve, data, performance, rules, keys, db)."""

from __future__ import annotations

from qa_service.cli import data, db, evaluate, keys, performance, rules, serve  # noqa: F401  (they register)
from qa_service.cli.app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()
