# Scoring Lambda image: AWS's Python 3.11 Lambda base (runtime interface client included) with the
# project installed from this checkout. Build from the repository root:
#   docker build -f infra/docker/lambda.Dockerfile -t fraud-lambda .
FROM public.ecr.aws/lambda/python:3.11

# The wheel carries the policy (and the dbt project, data, workspace): see setup.py.
COPY pyproject.toml setup.py README.md workspace.yaml /tmp/src/
COPY fraud_pipeline /tmp/src/fraud_pipeline
COPY dbt /tmp/src/dbt
COPY policy /tmp/src/policy
COPY data /tmp/src/data
RUN pip install --no-cache-dir --target "${LAMBDA_TASK_ROOT}" /tmp/src && rm -rf /tmp/src

# The handler Terraform names (infra/modules/lambda var.handler); image_config.command overrides it.
CMD ["fraud_pipeline.scoring.handler.handler"]
