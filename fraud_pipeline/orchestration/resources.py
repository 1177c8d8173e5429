"""Dagster resources: the same ports the streaming path uses, configured from settings/EnvVar.

`PipelineResource` carries the few settings that pick a deployment (backend, home, env,
endpoint); every other name comes from `load_settings()` and its `FRAUD_PIPELINE_*`
variables, exactly as in the workers, so the definitions run unchanged on the local backend
and on AWS. The port resources open the adapter of that backend for one use and close it.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
from dagster import ConfigurableResource, EnvVar

from fraud_pipeline.analytics.lake_sql import create_posts_view, register_lake_filesystem
from fraud_pipeline.catalog.base import Catalog
from fraud_pipeline.metrics.base import MetricsSink
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings, env_var_names, load_settings
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.streams.base import Stream


class PipelineResource(ConfigurableResource):
    """Which deployment: empty fields fall back to FRAUD_PIPELINE_* (then the defaults)."""

    backend: str = ""
    home: str = ""
    env: str = ""
    aws_endpoint_url: str = ""
    # Any other settings field, as FRAUD_PIPELINE_<FIELD> -> value (layered over the environment).
    overrides: dict[str, str] = {}  # noqa: RUF012 (pydantic copies defaults)

    def settings(self) -> Settings:
        overrides = {
            "backend": self.backend or None,
            "home": self.home or None,
            "env": self.env or None,
            "aws_endpoint_url": self.aws_endpoint_url or None,
        }
        return load_settings({**os.environ, **self.overrides}, **overrides)

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineResource:
        """Explicit values, or EnvVar where the environment sets the field (shown as such in the UI)."""
        values: dict[str, Any] = {}
        for name in ("backend", "home", "env", "aws_endpoint_url"):
            var = f"FRAUD_PIPELINE_{name.upper()}"
            value = str(getattr(settings, name))
            values[name] = EnvVar(var) if os.environ.get(var) == value else value
        plain = load_settings(
            backend=settings.backend,
            home=settings.home,
            env=settings.env,
            aws_endpoint_url=settings.aws_endpoint_url,
        )
        values["overrides"] = {
            var: str(getattr(settings, name))
            for name, var in env_var_names().items()
            if name not in ("backend", "home", "env", "aws_endpoint_url")
            and getattr(settings, name) != getattr(plain, name)
        }
        return cls(**values)


class ObjectStoreResource(ConfigurableResource):
    """The lake bucket (S3) or folder."""

    pipeline: PipelineResource

    def store(self) -> ObjectStore:
        return ObjectStore.from_settings(self.pipeline.settings())


class StreamsResource(ConfigurableResource):
    """Kinesis or the SQLite stream log."""

    pipeline: PipelineResource

    @contextmanager
    def open(self) -> Iterator[Stream]:
        from fraud_pipeline.streams import open_stream

        stream = open_stream(self.pipeline.settings())
        try:
            yield stream
        finally:
            stream.close()


class StateResource(ConfigurableResource):
    """Checkpoints (DynamoDB or SQLite): where the consumers are."""

    pipeline: PipelineResource

    @contextmanager
    def open(self) -> Iterator[StateStore]:
        from fraud_pipeline.state import open_state

        state = open_state(self.pipeline.settings())
        try:
            yield state
        finally:
            state.close()


class MetricsResource(ConfigurableResource):
    """CloudWatch or the local metrics table."""

    pipeline: PipelineResource

    @contextmanager
    def open(self) -> Iterator[MetricsSink]:
        from fraud_pipeline.metrics import open_metrics

        metrics = open_metrics(self.pipeline.settings())
        try:
            yield metrics
        finally:
            metrics.close()


class CatalogResource(ConfigurableResource):
    """Glue or the local DuckDB catalog."""

    pipeline: PipelineResource

    @contextmanager
    def open(self) -> Iterator[Catalog]:
        from fraud_pipeline.catalog import open_catalog

        catalog = open_catalog(self.pipeline.settings())
        try:
            yield catalog
        finally:
            catalog.close()


class ModelEndpointsResource(ConfigurableResource):
    """Status of the text and media model endpoints, however the scorer reaches them."""

    pipeline: PipelineResource
    timeout_s: float = 2.0

    def status(self) -> dict[str, dict[str, str]]:
        """endpoint name -> {mode, status, detail}; status InService/InProcess means usable."""
        settings = self.pipeline.settings()
        result = {}
        for name, mode, url in (
            (settings.text_endpoint, settings.text_model_mode, settings.text_model_url),
            (settings.media_endpoint, settings.media_model_mode, settings.media_model_url),
        ):
            result[name] = {"mode": mode, **self._probe(settings, name, mode, url)}
        return result

    def _probe(self, settings: Settings, name: str, mode: str, url: str) -> dict[str, str]:
        if mode == "inprocess":
            return {"status": "InProcess", "detail": "scored inside the scoring worker"}
        if mode == "http":
            try:
                with urllib.request.urlopen(f"{url.rstrip('/')}/ping", timeout=self.timeout_s) as reply:
                    ok = reply.status == 200
                return {"status": "InService" if ok else "Failed", "detail": f"GET /ping -> {reply.status}"}
            except OSError as exc:
                return {"status": "Unreachable", "detail": f"GET {url}/ping: {exc}"[:300]}
        from botocore.exceptions import BotoCoreError, ClientError

        from fraud_pipeline.aws import aws_client

        client = aws_client("sagemaker", settings.aws_region, settings.endpoint_url)
        try:
            described = client.describe_endpoint(EndpointName=name)
        except (BotoCoreError, ClientError) as exc:
            return {"status": "Missing", "detail": str(exc)[:300]}
        return {
            "status": str(described.get("EndpointStatus", "Unknown")),
            "detail": str(described.get("FailureReason", "")),
        }


class LakeDuckDBResource(ConfigurableResource):
    """An in-memory DuckDB with the compacted lake as the view `posts` (S3 through fsspec)."""

    pipeline: PipelineResource

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = self.pipeline.settings()
        con = duckdb.connect()
        try:
            register_lake_filesystem(con, settings)
            create_posts_view(con, settings)
            yield con
        finally:
            con.close()


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource the definitions use, for one deployment."""
    from fraud_pipeline.orchestration.dbt_project import dbt_resource

    pipeline = PipelineResource.from_settings(settings)
    return {
        "pipeline": pipeline,
        "lake": ObjectStoreResource(pipeline=pipeline),
        "streams": StreamsResource(pipeline=pipeline),
        "state": StateResource(pipeline=pipeline),
        "metrics": MetricsResource(pipeline=pipeline),
        "catalog": CatalogResource(pipeline=pipeline),
        "endpoints": ModelEndpointsResource(pipeline=pipeline),
        "duckdb": LakeDuckDBResource(pipeline=pipeline),
        "dbt": dbt_resource(),
    }
