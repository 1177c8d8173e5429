"""boto3 clients for the `aws` adapters, made one way.

Every client gets the endpoint from settings (None = real AWS; moto's server or LocalStack
otherwise) and botocore's standard retry mode, which retries throttling and 5xx with
backoff; callers that run their own retry loop pass `max_attempts=1`.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def aws_client(
    service: str,
    region: str,
    endpoint_url: str | None,
    *,
    max_attempts: int = 5,
    timeout_s: float | None = None,
) -> Any:
    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": max_attempts}}
    if timeout_s is not None:
        options.update(connect_timeout=timeout_s, read_timeout=timeout_s)
    # Typed as Any: with boto3-stubs installed (dbt-athena pulls them in) `client` only accepts
    # literal service names, and every caller here passes a plain string.
    make_client: Any = boto3.client
    return make_client(service, region_name=region, endpoint_url=endpoint_url, config=Config(**options))
