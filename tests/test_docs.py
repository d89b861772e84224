"""The documentation stays true: the README's test command is what CI runs, the configuration
page documents every setting, and the MkDocs site builds with --strict (no broken link or anchor)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest
from pydantic import BaseModel

from qa_service.config import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")


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


def test_configuration_page_documents_every_setting():
    """docs/configuration.md has a table row, spelled out in full, for every QA_* setting."""
    rows = set(re.findall(r"^\| `(QA_[A-Z_]+)` \|", CONFIGURATION, re.M))
    missing = [n for n in _env_names(Settings) if n not in rows]
    assert not missing, f"docs/configuration.md's settings table lacks {missing}"
    unknown = sorted(rows - set(_env_names(Settings)))
    assert not unknown, f"docs/configuration.md documents settings that do not exist: {unknown}"


def test_docs_site_builds_strict(tmp_path):
    """`mkdocs build --strict` fails on any warning: a broken link or anchor, a page outside the nav."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs / mkdocs-material not installed (pip install -c requirements/lock.txt -e '.[test]')")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site),
         "--config-file", str(REPO / "mkdocs.yml")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # quiet Material's end-of-life banner
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (site / "index.html").is_file()
    assert (site / "screenshots" / "queue.png").is_file()


def test_rules_readme_is_the_reference_of_docs_rules():
    """rules/README.md is generated from docs/rules.md (scripts/rules_readme.py). Was: a hand-kept copy with a
    garbled first paragraph and an out-of-date error-code list."""
    spec = importlib.util.spec_from_file_location("rules_readme", REPO / "scripts" / "rules_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    docs = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    readme = (REPO / "rules" / "README.md").read_text(encoding="utf-8")
    assert readme == module.render(docs), "rules/README.md differs from docs/rules.md: python scripts/rules_readme.py"
    assert "### Error codes" in readme and "a pack's scenario is another pack's name" in readme


def test_rules_page_counts_the_shipped_packs_examples():
    """docs/rules.md's example count is the packs' (it said 174 when they had 180)."""
    from qa_service.config import DEFAULT_RULES_DIR
    from qa_service.rules.loader import load_packs

    packs = load_packs(DEFAULT_RULES_DIR)
    examples = sum(len(r.spec.examples.match) + len(r.spec.examples.no_match)
                   for name, pack in packs.items() for r in pack.rules if r.pack == name)
    page = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    said = re.search(r"\((\d+) examples in the (\w+) packs\)", page)
    assert said, "docs/rules.md no longer says how many examples the packs have"
    words = {"five": 5, "six": 6, "seven": 7}
    assert (int(said.group(1)), words.get(said.group(2))) == (examples, len(packs))


def test_proof_page_counts_the_malformed_requests():
    """docs/proof.md's count of malformed requests is the test's (it said 70 when the test sent 71)."""
    from tests.api.test_malformed_corpus import CASES

    page = (REPO / "docs" / "proof.md").read_text(encoding="utf-8")
    said = re.search(r"`tests/api/test_malformed_corpus\.py` sends (\d+) malformed requests", page)
    assert said, "docs/proof.md no longer says how many malformed requests the test sends"
    assert int(said.group(1)) == len(CASES)


def _shown(doc, real, path="report"):
    """Every value the doc's example shows equals the real one; ``"..."`` stands for what was left out."""
    if doc == "...":
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            assert key in real, f"{path}.{key} is not in the real output"
            _shown(value, real[key], f"{path}.{key}")
    elif isinstance(doc, list):
        items = [d for d in doc if d != "..."]
        assert len(items) <= len(real), path
        if len(items) == len(doc):  # nothing left out: the whole list, in order
            assert len(doc) == len(real), path
            for i, (d, r) in enumerate(zip(doc, real)):
                _shown(d, r, f"{path}[{i}]")
        else:  # shortened: each shown entry is one of the real ones
            for d in items:
                assert any(_matches(d, r) for r in real), f"{path}: {d} is not in the real output"
    else:
        assert doc == real, f"{path}: the doc shows {doc!r}, the service gives {real!r}"


def _matches(doc, real) -> bool:
    try:
        _shown(doc, real)
    except AssertionError:
        return False
    return True


@pytest.mark.usefixtures("fresh_settings")
def test_api_page_report_example_is_real_output(tmp_path):
    """docs/api.md's "real output" is what the default pipeline gives that conversation. Was: it showed
    negativity.v1 and sentiment.v1 alone at 0.5 / 0.5 and 77.84, which no configuration gave any more."""
    import json

    from typer.testing import CliRunner

    from qa_service.cli import app

    page = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    block = page[page.index("A scored transcript looks like this (real output"):]
    doc = json.loads(block[block.index("```json") + 7:block.index("```\n", block.index("```json") + 7)])
    turns = [u if u != "..." else None for u in doc["utterances"]]
    texts = ["快递三天了还没到，太差了", "你自己不会看物流吗？这东西本来就是垃圾", "什么态度！气死我了，我要投诉你们"]
    assert turns[0]["text"] == texts[0]
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"source": "docs", "external_id": "api-example", "utterances": [
        {"role": "customer" if i % 2 == 0 else "agent", "text": t} for i, t in enumerate(texts)]},
        ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["score", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    real = json.loads(out.read_text(encoding="utf-8"))
    _shown(doc["report"], real)
