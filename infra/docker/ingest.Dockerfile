# Ingest task image (ECS Fargate): `fraud-pipeline ingest --source jetstream --backend aws`.
# Build from the repository root: docker build -f infra/docker/ingest.Dockerfile -t fraud-ingest .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/app
COPY pyproject.toml README.md ./
COPY fraud_pipeline ./fraud_pipeline
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /scratch --shell /usr/sbin/nologin app

USER 10001
ENTRYPOINT ["fraud-pipeline"]
CMD ["ingest", "--source", "jetstream", "--backend", "aws"]
