# SageMaker inference image (text and media endpoints). SageMaker starts it as `docker run <image> serve`,
# which replaces CMD, so the entry point is the project's CLI, `serve` its subcommand, and the serve
# settings come from the environment: HTTP on 0.0.0.0:8080 with /ping and /invocations, model from
# /opt/ml/model (the unpacked model.tar.gz) when present. Build from the repository root:
#   docker build -f infra/docker/inference.Dockerfile -t fraud-inference .
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FRAUD_PIPELINE_SERVE_HOST=0.0.0.0 FRAUD_PIPELINE_SERVE_PORT=8080 \
    FRAUD_PIPELINE_SERVE_MODEL_DIR=/opt/ml/model
WORKDIR /opt/app
COPY pyproject.toml README.md ./
COPY fraud_pipeline ./fraud_pipeline
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

USER 10001
EXPOSE 8080
ENTRYPOINT ["fraud-pipeline"]
CMD ["serve"]
