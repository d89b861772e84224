"""HTTP API (FastAPI): ``qa_service.api.app.create_app(settings)``."""
