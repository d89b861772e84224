"""The house stays the house: its layers, module and function sizes, no import of private names."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "qa_service"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
REASON = "Long because"  # a longer function says why in its docstring


def test_architecture_import_contracts_hold():
    """The layers, the acyclic siblings and the forbidden imports stated in pyproject.toml."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path,source", list(_sources()), ids=lambda x: str(x.relative_to(REPO)) if hasattr(x, "relative_to") else "")
def test_architecture_modules_and_functions_stay_readable(path, source):
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path.name} has {source.count(chr(10))} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            doc = ast.get_docstring(node) or ""
            assert lines <= MAX_FUNCTION_LINES or REASON in doc, (
                f"{path.name}:{node.lineno} {node.name} is {lines} lines; split it or say why ({REASON} …)")


def test_architecture_migrations_import_no_live_code():
    """A migration upgrades an old database the same way forever: it imports only its frozen helpers."""
    for path in sorted((PACKAGE / "storage" / "migrations" / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qa_service"):
                assert node.module == "qa_service.storage.migrations.frozen", f"{path.name} imports {node.module}"


def test_architecture_no_module_imports_another_modules_private_names():
    """A helper two modules share is public in the module that owns it (storage/transcripts.py's
    ``_dialect_insert``, imported by kpis.py and alerts.py, returned None on another dialect, so every caller's
    ``.on_conflict_do_nothing`` would have raised: storage/upsert.py's public ``dialect_insert`` serves them)."""
    private = [f"{path.relative_to(REPO)}:{node.lineno} {alias.name}" for path, source in _sources()
               for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qa_service")
               for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not private, private
