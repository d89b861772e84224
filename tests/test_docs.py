"""The README stays true: its test command is what CI runs, and it documents every setting."""

from __future__ import annotations

import re

from pydantic import BaseModel

from qa_service.config import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _env_names(model: type[BaseModel], prefix: str = "QA_") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names += _env_names(ann, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_readme_quick_start_test_command_is_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = "pip install torch==2.13.0 && pip install -c requirements/lock.txt -e '.[test]' && python -m pytest"
    assert command in README and command in ci
    assert "pip install torch==2.13.0 && pip install -c requirements/lock.txt -e . && qa demo" in README
    assert "python3 -m venv" in ci, "CI must build a fresh virtual environment every run"


def test_lock_pins_every_dependency_exactly():
    """The lock pins (==) every requirement pyproject.toml names, torch without a local label."""
    import tomllib

    lock = (REPO / "requirements" / "lock.txt").read_text(encoding="utf-8")
    pinned = {re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
              for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock, re.M)}
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    names = {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r).group()).lower() for r in wanted}
    assert not names - set(pinned), f"not in requirements/lock.txt: {sorted(names - set(pinned))}"
    assert pinned["torch"] == "2.13.0"


def test_readme_documents_every_setting():
    documented = set(re.findall(r"QA_[A-Z_]+(?:__[A-Z_]+)?", README))
    # "QA_SCORING__NEGATIVE_LEXICON / __POSITIVE_LEXICON" style rows name siblings by suffix.
    for suffix in re.findall(r"/ `(__[A-Z_]+)`", README):
        documented.add("QA_SCORING" + suffix)
    for pair in re.findall(r"`(QA_[A-Z]+__)([A-Z_]+)` / `(QA_[A-Z]+__)([A-Z_]+)`", README):
        documented.update({pair[0] + pair[1], pair[2] + pair[3]})
    missing = [n for n in _env_names(Settings) if n not in documented]
    assert not missing, f"README's configuration table lacks {missing}"
