# Dagster image: code location server, webserver, daemon and run tasks (commands set per ECS service
# in infra/modules/dagster). Postgres storage needs dagster-postgres, pinned to the dagster release
# the project pins. Build from the repository root:
#   docker build -f infra/docker/dagster.Dockerfile -t fraud-dagster .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home
WORKDIR /opt/dagster/app
COPY pyproject.toml README.md ./
COPY fraud_pipeline ./fraud_pipeline
COPY dbt ./dbt
COPY infra/docker/dagster/workspace.yaml ./workspace.yaml
COPY infra/docker/dagster/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
RUN pip install --no-cache-dir . "dagster-postgres==0.29.27" \
    && useradd --system --uid 10001 --home-dir /scratch --shell /usr/sbin/nologin app

USER 10001
EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "fraud_pipeline.orchestration", "-a", "defs", "--log-format", "json"]
