# Ingest task image (ECS Fargate): `fraud-pipeline ingest --source jetstream --backend aws`.
# Build from the repository root: docker build -f infra/docker/ingest.Dockerfile -t fraud-ingest .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/app
# The wheel carries the dbt project, the policy, the bundled data and the workspace (setup.py).
COPY pyproject.toml setup.py README.md workspace.yaml ./
COPY fraud_pipeline ./fraud_pipeline
COPY dbt ./dbt
COPY policy ./policy
COPY data ./data
RUN pip install --no-cache-dir . \
    && rm -rf pyproject.toml setup.py README.md workspace.yaml fraud_pipeline dbt policy data build \
    && useradd --system --uid 10001 --home-dir /scratch --shell /usr/sbin/nologin app

USER 10001
ENTRYPOINT ["fraud-pipeline"]
CMD ["ingest", "--source", "jetstream", "--backend", "aws"]
