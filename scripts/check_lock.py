"""Every distribution installed in this environment is pinned in the lock, at the version installed.

    python scripts/check_lock.py [requirements/lock.txt]

Run after ``pip install -c requirements/lock.txt ...``: a dependency added to pyproject.toml without
re-running scripts/upgrade_lock.sh would otherwise install whatever is newest, unnoticed.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

IGNORED = {"pip", "setuptools", "wheel", "qa-service"}  # the installer and the project itself


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    out = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if m:
            out[canonical(m.group(1))] = m.group(2)
    return out


def main() -> int:
    lock = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "requirements/lock.txt")
    pinned = pins(lock)
    problems = []
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name in IGNORED:
            continue
        version = dist.version.split("+")[0]
        if name not in pinned:
            problems.append(f"{name} {dist.version} is installed but not in {lock.name}")
        elif pinned[name].split("+")[0] != version:
            problems.append(f"{name} {dist.version} is installed; {lock.name} pins {pinned[name]}")
    for p in sorted(problems):
        print(p)
    print(f"lock check: {len(pinned)} pins, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
