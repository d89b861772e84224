"""Agent performance: operational KPIs merged with QA reports, appraisal schemes, exports (pure; no I/O)."""
