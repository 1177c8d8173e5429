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
# The wheel carries the dbt project, the policy, the bundled data and the workspace (setup.py).
COPY pyproject.toml setup.py README.md workspace.yaml ./
COPY fraud_pipeline ./fraud_pipeline
COPY dbt ./dbt
COPY policy ./policy
COPY data ./data
# Tesseract's English model for the media endpoint's OCR (the `ocr` extra brings the library),
# pinned to bookworm's version like the base image.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends tesseract-ocr-eng=1:4.1.0-2 \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir ".[ocr]" \
    && rm -rf pyproject.toml setup.py README.md workspace.yaml fraud_pipeline dbt policy data build \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

USER 10001
EXPOSE 8080
ENTRYPOINT ["fraud-pipeline"]
CMD ["serve"]
