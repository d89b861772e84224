"""``python -m qa_service.cli …`` (how the embedded stack starts its workers)."""

import sys

from qa_service.cli import app

sys.exit(app())
