"""Ingestion: validate, store (idempotently), then enqueue. Shared by the API and the CLI."""
