# qa_service: API and workers (CPU only). Build: docker build -t qa-service .
FROM python:3.11-slim

# The installed package holds no models/ or rules/: they are copied to /app and named here.
# A worker's metrics port (when QA_WORKER__METRICS_PORT is set) binds all addresses: Prometheus scrapes it
# from another container.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 QA_DATA_DIR=/data QA_SCORING__SENTIMENT_MODEL=/app/models/sentiment-zh \
    QA_SCORING__DETECTOR_MODEL=/app/models/qa-detectors QA_SCORING__RULES_DIR=/app/rules \
    QA_WORKER__METRICS_HOST=0.0.0.0

# CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY qa_service ./qa_service
COPY rules ./rules
COPY models ./models
# Exact versions from the lock (scripts/upgrade_lock.sh re-resolves it and runs the suite).
RUN pip install -c requirements/lock.txt ".[postgres]" && useradd --create-home --uid 10001 qa && mkdir -p /data && chown qa /data

USER qa
VOLUME ["/data"]
EXPOSE 8000
# The API's check; docker-compose.yml gives the worker its own and the migrate job none.
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
# API only; run workers as separate containers (`qa worker`), see docker-compose.yml.
CMD ["qa", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "0"]
