"""The ``qa`` command line: one module per command group (serve, data, performance, rules, keys, db, erase)."""

from __future__ import annotations

from qa_service.cli import data, db, erase, evaluate, keys, performance, rules, serve  # noqa: F401  (they register)
from qa_service.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """``qa``: the Typer app, with what a command cannot work with said in one line instead of a traceback
    (a database from a newer release, one it cannot reach or read, settings it cannot serve): exit 2."""
    import sys

    from sqlalchemy.exc import DBAPIError

    from qa_service.cli.app import err_console
    from qa_service.config_env import SettingsInvalid
    from qa_service.errors import ConfigError

    try:
        app()
    except SettingsInvalid as exc:  # QA_* variables it cannot take: one line each, naming the variable
        for line in exc.problems:
            err_console.print(f"qa: {line}", markup=False, style="red", soft_wrap=True)
        sys.exit(2)
    except ConfigError as exc:
        err_console.print(f"qa: {exc}", markup=False, style="red", soft_wrap=True)  # a path stays whole
        sys.exit(2)
    except DBAPIError as exc:  # unreachable, refused, not a database at all
        problem = str(exc.orig or exc).strip().splitlines()[0]
        err_console.print(f"qa: cannot use the database: {type(exc.orig or exc).__name__}: {problem}",
                          markup=False, style="red", soft_wrap=True)
        sys.exit(2)
