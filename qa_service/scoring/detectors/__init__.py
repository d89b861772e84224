"""Learned detectors: what the phrase lists cannot reach (objections, brush-offs, moods, handling)."""
