"""Create every resource the pipeline needs, idempotently, on either backend.

`provision(settings)` makes: both streams (settings.stream_shard_count shards), the bucket
(S3, or the local lake folder), the state table (DynamoDB PAY_PER_REQUEST with TTL on
`expires_at`, or the SQLite file), and the catalog database with the raw table over
`<bucket>/<posts_prefix>`. The raw table uses Glue partition projection for the Firehose
layout `posts/YYYY/MM/DD/HH/` (a `datehour` key), so Athena needs no partition loading; the
local DuckDB view parses `datehour` from the file paths with the same template.
Run it twice and nothing changes: the summary then says "exists" for everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fraud_pipeline.catalog import TableNotFound, open_catalog
from fraud_pipeline.catalog.base import Catalog, Column, lake_columns
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import StateError
from fraud_pipeline.streams import StreamNotFound, open_stream

PROJECTION_START = "2024/01/01/00"
RAW_PARTITION_KEY = "datehour"


def raw_table_location(settings: Settings) -> str:
    """URI of the raw lake prefix, as `ObjectStore.uri(settings.posts_prefix)` spells it."""
    if settings.backend == "aws":
        return f"s3://{settings.bucket}/{settings.posts_prefix}"
    return settings.lake_path.resolve().as_uri() + "/" + settings.posts_prefix


def raw_table_parameters(location: str) -> dict[str, str]:
    """Glue partition projection for Firehose's `YYYY/MM/DD/HH/` prefix (read by Athena)."""
    key = RAW_PARTITION_KEY
    return {
        "projection.enabled": "true",
        f"projection.{key}.type": "date",
        f"projection.{key}.format": "yyyy/MM/dd/HH",
        f"projection.{key}.range": f"{PROJECTION_START},NOW",
        f"projection.{key}.interval": "1",
        f"projection.{key}.interval.unit": "HOURS",
        "storage.location.template": location.rstrip("/") + "/${" + key + "}/",
    }


def _provision_streams(settings: Settings) -> dict[str, str]:
    stream = open_stream(settings)
    result: dict[str, str] = {}
    try:
        for name in (settings.untagged_stream, settings.tagged_stream):
            try:
                stream.describe(name)
                result[name] = "exists"
            except StreamNotFound:
                result[name] = "created"
            stream.create_stream(name, settings.stream_shard_count)  # also waits for ACTIVE
    finally:
        stream.close()
    return result


def _provision_bucket(settings: Settings) -> dict[str, str]:
    if settings.backend == "local":
        folder = settings.lake_path
        state = "exists" if folder.is_dir() else "created"
        folder.mkdir(parents=True, exist_ok=True)
        return {"name": settings.bucket, "location": str(folder.resolve()), "status": state}
    from botocore.exceptions import ClientError

    from fraud_pipeline.aws import aws_client

    s3 = aws_client("s3", settings.aws_region, settings.endpoint_url)
    try:
        s3.head_bucket(Bucket=settings.bucket)
        return {"name": settings.bucket, "location": f"s3://{settings.bucket}", "status": "exists"}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": settings.bucket}
    if settings.aws_region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
    status = "created"
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
        status = "exists"
    return {"name": settings.bucket, "location": f"s3://{settings.bucket}", "status": status}


def _provision_state(settings: Settings) -> dict[str, str]:
    if settings.backend == "local":
        from fraud_pipeline.state.sqlite import SqliteStateStore

        status = "exists" if settings.state_path.exists() else "created"
        SqliteStateStore(settings.state_path).close()
        return {"name": str(settings.state_path), "status": status}
    from fraud_pipeline.state.dynamodb import dynamodb_client, ensure_table

    client = dynamodb_client(settings.aws_region, settings.endpoint_url)
    try:
        changed = ensure_table(client, settings.state_table)
    except Exception as exc:  # botocore errors: say which resource failed
        raise StateError(f"cannot provision DynamoDB table {settings.state_table!r}: {exc}") from exc
    finally:
        client.close()
    return {
        "name": settings.state_table,
        "status": "created" if changed["created"] else "exists",
        "ttl": "enabled" if changed["ttl_enabled"] else "already enabled",
    }


def ensure_raw_table(catalog: Catalog, settings: Settings) -> None:
    """The raw lake's table: the Firehose layout, partition projection on `datehour`."""
    location = raw_table_location(settings)
    catalog.ensure_table(
        settings.glue_database,
        settings.glue_table,
        lake_columns(),
        location,
        partition_keys=[Column(RAW_PARTITION_KEY, "string")],
        parameters=raw_table_parameters(location),
    )


def _provision_catalog(settings: Settings) -> dict[str, str]:
    catalog = open_catalog(settings)
    location = raw_table_location(settings)
    try:
        catalog.ensure_database(settings.glue_database)
        try:
            catalog.table_columns(settings.glue_database, settings.glue_table)
            status = "exists"
        except TableNotFound:
            status = "created"
        ensure_raw_table(catalog, settings)
        from fraud_pipeline.labeler.lake_table import ensure_labels_table

        ensure_labels_table(catalog, settings)
        from fraud_pipeline.accounts.lake_table import ensure_accounts_table

        ensure_accounts_table(catalog, settings)
    finally:
        catalog.close()
    return {
        "database": settings.glue_database,
        "table": settings.glue_table,
        "location": location,
        "status": status,
    }


# The parts, in order (the CLI shows each as a step of its progress bar).
PROVISION_STEPS: dict[str, Callable[[Settings], dict[str, str]]] = {
    "streams": _provision_streams,
    "bucket": _provision_bucket,
    "state_table": _provision_state,
    "catalog": _provision_catalog,
}


def provision(settings: Settings) -> dict[str, Any]:
    """Create what is missing and report what exists; safe to run any number of times."""
    report: dict[str, Any] = {"backend": settings.backend, "env": settings.env}
    for part, step in PROVISION_STEPS.items():
        report[part] = step(settings)
    return report


def provision_summary(report: dict[str, Any]) -> str:
    """One line: which backend, and what each part now is (created / exists)."""
    parts = []
    for part in PROVISION_STEPS:
        statuses = _statuses(report.get(part))
        parts.append(f"{part.replace('_', ' ')} {'/'.join(sorted(statuses)) or 'ok'}")
    return f"provisioned {report.get('env')} on {report.get('backend')}: " + ", ".join(parts)


def _statuses(value: object) -> set[str]:
    if isinstance(value, dict):
        found = {str(value["status"])} if isinstance(value.get("status"), str) else set()
        for inner in value.values():
            if isinstance(inner, dict):
                found |= _statuses(inner)
            elif isinstance(inner, str) and inner in ("created", "exists", "existing", "updated"):
                found.add(inner)
        return found
    return set()
