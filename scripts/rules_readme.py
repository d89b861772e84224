"""Write ``rules/README.md``, the rule reference shipped in the rules folder, from ``docs/rules.md``.

The README is docs/rules.md's "The shipped packs" and "Rule reference" sections, word for word, under a
title that says where it comes from; links to other pages of the docs point into ``../docs/``. Was: a
hand-kept copy that drifted (a garbled first paragraph, an out-of-date error-code list).
``tests/test_docs.py`` fails when the file is not what this script writes.

    python scripts/rules_readme.py           # rewrite rules/README.md
    python scripts/rules_readme.py --check   # exit 1 when it differs
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "rules.md"
README = ROOT / "rules" / "README.md"
SECTIONS = ("## The shipped packs", "## Rule reference")
HEADER = """\
# Rule packs

<!-- Generated from docs/rules.md by scripts/rules_readme.py: edit that page, then run the script. -->

The rule packs of this folder, and the reference for writing them: the same text as
[docs/rules.md](../docs/rules.md) (how rules match, trying a rule, rule quality), sections
"The shipped packs" and "Rule reference".
"""


def section(text: str, heading: str) -> str:
    """From ``heading`` (a line of its own) to the next heading of its level."""
    start = text.index(f"\n{heading}\n") + 1
    end = text.find("\n## ", start)
    return text[start:end if end >= 0 else len(text)].strip() + "\n"


def render(docs: str) -> str:
    body = "\n".join(section(docs, h) for h in SECTIONS)
    body = re.sub(r"\]\((?!#|[a-z]+:)([^)#]+\.md)", r"](../docs/\1", body)  # cli.md → ../docs/cli.md
    return HEADER + "\n" + body


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 when rules/README.md is not what it would write")
    args = p.parse_args()
    wanted = render(DOCS.read_text(encoding="utf-8"))
    if args.check:
        if README.read_text(encoding="utf-8") != wanted:
            print(f"{README} differs from docs/rules.md: run python scripts/rules_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
