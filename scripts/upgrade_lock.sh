#!/usr/bin/env bash
# Re-resolve requirements/lock.txt, install it into a fresh venv, run the suite; keep it only if green.
#
#   scripts/upgrade_lock.sh            add pins for new dependencies, keep every existing pin
#   scripts/upgrade_lock.sh --upgrade  re-resolve everything to the newest releases pyproject.toml allows
#
# The lock is a pip constraints file (pip install -c requirements/lock.txt ...): the README's two
# commands, .ci/run and the Dockerfile install from it. pyproject.toml keeps honest ranges for people
# who install the library into their own environment. torch is pinned without its local label
# (2.13.0, not 2.13.0+cpu) so that both the CPU wheel and PyPI's build satisfy it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" -m venv "$work/tools"
"$work/tools/bin/pip" install -q pip-tools
cp requirements/lock.txt "$work/lock.txt"
"$work/tools/bin/pip-compile" --quiet --all-extras --strip-extras --no-emit-index-url --no-emit-find-links \
  --no-emit-trusted-host "$@" -o "$work/lock.txt" pyproject.toml
sed -i -E 's/^torch==([0-9.]+)\+[a-z0-9]+/torch==\1/' "$work/lock.txt"

echo "== changes"
diff <(grep -E '^[A-Za-z0-9]' requirements/lock.txt) <(grep -E '^[A-Za-z0-9]' "$work/lock.txt") || true

echo "== fresh venv from the new lock, then the suite"
"$PY" -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install -q torch==2.13.0
pip install -q -c "$work/lock.txt" -e '.[test]'
python scripts/check_lock.py "$work/lock.txt"
HF_HUB_OFFLINE=1 python -m pytest -q
cp "$work/lock.txt" requirements/lock.txt
echo "== requirements/lock.txt updated; commit it with the suite's result"
