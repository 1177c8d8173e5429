# Scoring Lambda image: AWS's Python 3.11 Lambda base (runtime interface client included) with the
# project installed from this checkout. Build from the repository root:
#   docker build -f infra/docker/lambda.Dockerfile -t fraud-lambda .
FROM public.ecr.aws/lambda/python:3.11

COPY pyproject.toml README.md /tmp/src/
COPY fraud_pipeline /tmp/src/fraud_pipeline
RUN pip install --no-cache-dir --target "${LAMBDA_TASK_ROOT}" /tmp/src && rm -rf /tmp/src

# The handler Terraform names (infra/modules/lambda var.handler); image_config.command overrides it.
CMD ["fraud_pipeline.scoring.handler.handler"]
