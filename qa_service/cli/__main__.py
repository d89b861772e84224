"""``python -m qa_service.cli …`` (how the embedded stack starts its workers)."""

from qa_service.cli import main

main()
