# Scoring Lambda image. Not AWS's Python 3.11 Lambda base: that is Amazon Linux 2 (glibc 2.26), and
# the pinned wheels need glibc >= 2.27/2.28 (numpy 2.4, Pillow 13, onnxruntime, zxing-cpp,
# tesserocr), so the project could not be installed there. Debian bookworm like the inference
# image, with AWS's Lambda runtime interface client (awslambdaric, the `lambda` extra) as the
# entry point, and Tesseract for the media OCR when the Lambda reads images in process.
# The scoring path runs compiled: the first stage builds the project's wheel with
# FRAUD_PIPELINE_COMPILE=1 (setup.py: the hot modules compiled by mypyc, their .py files beside
# them), with gcc, which the runtime stage does not carry.
# Build from the repository root:
#   docker build -f infra/docker/lambda.Dockerfile -t fraud-lambda .
FROM python:3.11.11-slim-bookworm AS build

ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends build-essential=12.9 \
    && rm -rf /var/lib/apt/lists/*
# The wheel carries the policy (and the dbt project, data, workspace): see setup.py.
COPY pyproject.toml setup.py README.md workspace.yaml ./
COPY fraud_pipeline ./fraud_pipeline
COPY dbt ./dbt
COPY policy ./policy
COPY data ./data
RUN FRAUD_PIPELINE_COMPILE=1 pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /var/task
# Tesseract's English model, pinned to bookworm's version like the base image (the inference image's).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends tesseract-ocr-eng=1:4.1.0-2 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
# The compiled wheel, with Tesseract in process (ocr) and the runtime interface client (lambda).
RUN pip install --no-cache-dir "$(echo /wheels/fraud_pipeline-*.whl)[ocr,lambda]" \
    && rm -rf /wheels \
    && python -c "from fraud_pipeline.compiled_build import build; assert build() == 'compiled', build()" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app

# Lambda runs the image as its own user; this one is for anything else that starts it.
USER 10001
ENTRYPOINT ["python", "-m", "awslambdaric"]
# The handler Terraform names (infra/modules/lambda var.handler); image_config.command overrides it.
CMD ["fraud_pipeline.scoring.handler.handler"]
