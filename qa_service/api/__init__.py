"""HTTP API (FastAPI): routes, schemas, presenters, auth; assembled with the web UI by ``qa_service.app``."""
