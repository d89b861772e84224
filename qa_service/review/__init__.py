"""Human review of machine QA: queue and sampling, final scores, calibration (pure; storage/reviews.py does I/O)."""
