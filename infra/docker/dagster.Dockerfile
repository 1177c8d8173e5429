# Dagster image: code location server, webserver, daemon and run tasks (commands set per ECS service
# in infra/modules/dagster). Postgres storage needs dagster-postgres, pinned to the dagster release
# the project pins. Build from the repository root:
#   docker build -f infra/docker/dagster.Dockerfile -t fraud-dagster .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home
WORKDIR /opt/dagster/app
# The wheel carries the dbt project, the policy, the bundled data and the workspace (setup.py).
COPY pyproject.toml setup.py README.md workspace.yaml ./
COPY fraud_pipeline ./fraud_pipeline
COPY dbt ./dbt
COPY policy ./policy
COPY data ./data
COPY infra/docker/dagster/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
RUN pip install --no-cache-dir . "dagster-postgres==0.29.27" \
    && rm -rf pyproject.toml setup.py README.md workspace.yaml fraud_pipeline dbt policy data build \
    && useradd --system --uid 10001 --home-dir /scratch --shell /usr/sbin/nologin app
# The webserver and the daemon reach the code server over gRPC (replaces the build's workspace.yaml).
COPY infra/docker/dagster/workspace.yaml ./workspace.yaml

USER 10001
EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "fraud_pipeline.orchestration", "-a", "defs", "--log-format", "json"]
