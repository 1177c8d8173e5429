"""Provisioning on both backends: everything is created once, and a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from fraud_pipeline.catalog import open_catalog
from fraud_pipeline.catalog.base import lake_columns
from fraud_pipeline.lake.paths import firehose_object_key
from fraud_pipeline.objects.store import ObjectStore
from fraud_pipeline.provision import provision, raw_table_location
from fraud_pipeline.records import Post, TaggedRecord, tagged_rows_to_table
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import PutEntry, open_stream


@pytest.fixture(params=["local", pytest.param("aws", marks=pytest.mark.moto)])
def settings(request: pytest.FixtureRequest) -> Settings:
    return request.getfixturevalue("local_settings" if request.param == "local" else "aws_settings")


def _statuses(summary: dict[str, Any]) -> list[str]:
    parts = [summary["bucket"], summary["state_table"], summary["catalog"]]
    return [*summary["streams"].values(), *(part["status"] for part in parts)]


def test_provision_creates_everything_then_changes_nothing(settings: Settings) -> None:
    first = provision(settings)
    assert _statuses(first) == ["created"] * 5, first
    second = provision(settings)
    assert _statuses(second) == ["exists"] * 5, second
    assert second["catalog"]["location"] == raw_table_location(settings)

    stream = open_stream(settings)
    for name in (settings.untagged_stream, settings.tagged_stream):
        assert len(stream.describe(name).shard_ids) == settings.stream_shard_count
    assert stream.put_records(settings.untagged_stream, [PutEntry("did:plc:a", b"{}")])[0].ok
    stream.close()
    state = open_state(settings)
    assert state.increment("provisioned", ttl_s=60) == 1
    state.close()
    catalog = open_catalog(settings)
    assert catalog.table_columns(settings.glue_database, settings.glue_table) == lake_columns()
    catalog.close()


def test_provision_on_aws_sets_ttl_billing_and_projection(aws_settings: Settings) -> None:
    provision(aws_settings)
    kwargs = {"region_name": aws_settings.aws_region, "endpoint_url": aws_settings.endpoint_url}
    assert aws_settings.bucket in [b["Name"] for b in boto3.client("s3", **kwargs).list_buckets()["Buckets"]]
    ddb = boto3.client("dynamodb", **kwargs)
    table = ddb.describe_table(TableName=aws_settings.state_table)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ddb.describe_time_to_live(TableName=aws_settings.state_table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }
    glue = boto3.client("glue", **kwargs)
    posts = glue.get_table(DatabaseName=aws_settings.glue_database, Name=aws_settings.glue_table)["Table"]
    params = posts["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.datehour.format"] == "yyyy/MM/dd/HH"
    assert params["storage.location.template"] == f"s3://{aws_settings.bucket}/posts/${{datehour}}/"
    assert posts["StorageDescriptor"]["Location"] == f"s3://{aws_settings.bucket}/posts/"
    assert posts["PartitionKeys"] == [{"Name": "datehour", "Type": "string"}]
    versions = glue.get_table_versions(
        DatabaseName=aws_settings.glue_database, TableName=aws_settings.glue_table
    )
    provision(aws_settings)
    again = glue.get_table_versions(
        DatabaseName=aws_settings.glue_database, TableName=aws_settings.glue_table
    )
    assert len(again["TableVersions"]) == len(versions["TableVersions"])  # no new table version
    kinesis = boto3.client("kinesis", **kwargs)
    assert (
        kinesis.describe_stream_summary(StreamName=aws_settings.tagged_stream)["StreamDescriptionSummary"][
            "OpenShardCount"
        ]
        == aws_settings.stream_shard_count
    )


def test_local_raw_table_reads_firehose_layout(local_settings: Settings) -> None:
    provision(local_settings)
    store = ObjectStore.from_settings(local_settings)
    when = datetime(2026, 11, 29, 14, 5, tzinfo=UTC)
    post = Post(
        uri="at://did:plc:x/app.bsky.feed.post/1",
        did="did:plc:x",
        rkey="1",
        operation="create",
        time_us=int(when.timestamp() * 1_000_000),
        text="claim your free $ETH",
    )
    record = TaggedRecord.from_post(
        post,
        fraud_text_likelihood=0.97,
        fraud_media_likelihood=None,
        fraud_score=0.97,
        is_fraud=True,
        labels=["crypto-giveaway"],
        reasons=["text"],
        rule_hits=[],
        text_model_version="t1",
        media_model_version=None,
        scored_at_us=post.time_us + 10,
    )
    key = firehose_object_key(local_settings.posts_prefix, local_settings.delivery_stream, when)
    table = tagged_rows_to_table([orjson.loads(record.to_json())])
    path = store.path(key)
    store.put_bytes(key, b"")  # creates the folders the way the delivery does
    pq.write_table(table, path)
    open_catalog(local_settings).close()  # opening refreshes views that were empty
    with duckdb.connect(str(local_settings.catalog_path), read_only=True) as conn:
        view = f"{local_settings.glue_database}.{local_settings.glue_table}"
        rows = conn.execute(f"SELECT datehour, is_fraud, labels FROM {view}").fetchall()
    assert rows == [("2026/11/29/14", True, ["crypto-giveaway"])]
