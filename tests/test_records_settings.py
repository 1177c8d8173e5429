"""The schema module and the settings module: the two single sources of truth."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import orjson
import pytest

from fraud_pipeline.records import (
    SEED_GLUE_COLUMNS,
    TAGGED_ARROW_SCHEMA,
    Post,
    RecordError,
    TaggedRecord,
    glue_columns,
    iso_from_us,
    tagged_rows_to_table,
)
from fraud_pipeline.settings import Settings, SettingsError, env_var_names, load_settings
from tests.scoring_fixtures import make_post


@pytest.mark.parametrize(
    "time_us", [0, 1_764_000_000_123_456, 1_764_000_000_999_999, 1_764_000_001_000_000, -1]
)
def test_iso_from_us_matches_datetime(time_us: int) -> None:
    expected = datetime.fromtimestamp(time_us / 1_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert iso_from_us(time_us) == expected


def test_seed_glue_columns_come_first_and_types_map() -> None:
    columns = glue_columns()
    assert tuple(c["Name"] for c in columns[: len(SEED_GLUE_COLUMNS)]) == SEED_GLUE_COLUMNS
    types = {c["Name"]: c["Type"] for c in columns}
    assert types["time_utc"] == "timestamp" and types["media_paths"] == "array<string>"
    assert types["is_fraud"] == "boolean" and types["fraud_score"] == "double"
    assert [c["Name"] for c in columns] == TAGGED_ARROW_SCHEMA.names


def test_post_round_trips_and_rejects_bad_payloads() -> None:
    post = make_post(1, "héllo 🌍", langs=["en"], links=["https://a.example/x"])
    assert Post.from_json(post.to_json()) == post
    for bad in (
        b"{",
        b"[]",
        b'{"uri": "", "did": "d", "rkey": "r", "operation": "create", "time_us": 1}',
        b'{"uri": "u", "did": "d", "rkey": "r", "operation": "upsert", "time_us": 1}',
        b'{"uri": "u", "did": "d", "rkey": "r", "operation": "create", "time_us": "soon"}',
        b'{"uri": "u", "did": "d", "rkey": "r", "operation": "create", "time_us": 1, "text": 5}',
    ):
        with pytest.raises(RecordError):
            Post.from_json(bad)


def test_tagged_rows_convert_to_the_lake_schema_or_say_why_not() -> None:
    post = make_post(1, "x")
    record = TaggedRecord.from_post(
        post,
        fraud_text_likelihood=0.2,
        fraud_media_likelihood=None,
        fraud_score=0.2,
        is_fraud=False,
        labels=[],
        reasons=[],
        rule_hits=[],
        text_model_version="v",
        media_model_version=None,
        scored_at_us=2,
    )
    table = tagged_rows_to_table([dataclasses.asdict(record)])
    assert table.schema.equals(TAGGED_ARROW_SCHEMA) and table.num_rows == 1
    assert table.column("time_utc")[0].as_py() == datetime.fromtimestamp(post.time_us / 1e6, tz=UTC)
    with pytest.raises(RecordError, match=r"fraud_score|double|float"):
        tagged_rows_to_table([dict(dataclasses.asdict(record), fraud_score="high")])
    with pytest.raises(RecordError, match="time_utc"):
        tagged_rows_to_table([dict(dataclasses.asdict(record), time_utc="yesterday")])


def test_names_derive_from_the_environment() -> None:
    dev = load_settings(environ={})
    assert dev.untagged_stream == "fraud-detect-dev-untagged-stream"
    assert dev.tagged_stream == "fraud-detect-dev-tagged-stream"
    assert dev.metric_namespace == "fraud-detect-dev" and dev.glue_database == "fraud_detect_dev"
    prod = load_settings(environ={"FRAUD_PIPELINE_ENV": "prod"})
    assert prod.bucket == "fraud-detect-prod-lake"
    assert dev.with_overrides(env="prod").bucket == "fraud-detect-prod-lake"


def test_settings_hold_no_threshold_the_policy_owns_them() -> None:
    """Operating points live in the detection policy only (one number, one place)."""
    assert not [f.name for f in dataclasses.fields(Settings) if "threshold" in f.name]
    assert "FRAUD_PIPELINE_FRAUD_THRESHOLD" not in env_var_names().values()


def test_environment_variables_override_and_are_checked() -> None:
    names = env_var_names()
    assert names["tagged_stream"] == "FRAUD_PIPELINE_TAGGED_STREAM"
    settings = load_settings(
        environ={names["tagged_stream"]: "custom", names["stream_shard_count"]: "4", names["backend"]: "aws"}
    )
    assert (
        settings.tagged_stream == "custom" and settings.stream_shard_count == 4 and settings.backend == "aws"
    )
    with pytest.raises(SettingsError, match="STREAM_SHARD_COUNT"):
        load_settings(environ={names["stream_shard_count"]: "many"})
    with pytest.raises(SettingsError, match="backend"):
        load_settings(environ={names["backend"]: "gcp"})
    with pytest.raises(SettingsError, match="env"):
        Settings(env="no spaces")


def test_tagged_records_carry_action_policy_version_and_campaign_and_old_rows_still_convert() -> None:
    record = TaggedRecord.from_post(
        make_post(1, "hi"),
        fraud_text_likelihood=0.9,
        fraud_media_likelihood=None,
        fraud_score=0.9,
        is_fraud=True,
        labels=["fraud-text"],
        reasons=[],
        rule_hits=[],
        text_model_version="t",
        media_model_version=None,
        scored_at_us=2,
        action="label",
        policy_version="abc123",
        campaign_id="c1",
    )
    row = orjson.loads(record.to_json())
    assert (row["action"], row["policy_version"], row["campaign_id"]) == ("label", "abc123", "c1")
    table = tagged_rows_to_table([row])
    assert table.column("action").to_pylist() == ["label"]
    # A row written before these columns existed converts with nulls, not an error.
    old = {k: v for k, v in row.items() if k not in ("action", "policy_version", "campaign_id")}
    assert tagged_rows_to_table([old]).column("policy_version").to_pylist() == [None]


def test_tagged_record_from_post_fills_every_field_by_its_name() -> None:
    """`from_post` builds the record positionally (it runs once per post): each field must
    still get the post's attribute or the verdict argument of the same name."""
    post = Post(
        **{
            f.name: (
                f"{f.name}-value" if f.type in ("str", "str | None") else getattr(make_post(3, "t"), f.name)
            )
            for f in dataclasses.fields(Post)
        }
    )
    post.time_us, post.ingested_at_us = 1_700_000_000_123_456, 17
    for name in (
        "langs",
        "links",
        "domains",
        "mentions",
        "tags",
        "media_kinds",
        "media_paths",
        "media_cids",
        "media_alts",
    ):
        setattr(post, name, [f"{name}-item"])
    verdict = {
        "fraud_text_likelihood": 0.25,
        "fraud_media_likelihood": 0.5,
        "fraud_score": 0.75,
        "is_fraud": True,
        "labels": ["a-label"],
        "reasons": ["a reason"],
        "rule_hits": ["a-rule"],
        "text_model_version": "text-v",
        "media_model_version": "media-v",
        "scored_at_us": 99,
        "action": "review",
        "policy_version": "policy-v",
        "campaign_id": "campaign-v",
    }
    record = TaggedRecord.from_post(post, **verdict)  # type: ignore[arg-type]
    for field in dataclasses.fields(TaggedRecord):
        value = getattr(record, field.name)
        if field.name in verdict:
            assert value == verdict[field.name], field.name
        elif field.name == "time_utc":
            assert value == "2023-11-14T22:13:20.123456Z"
        elif field.name == "account_signals":
            assert value is None
        else:
            assert value == getattr(post, field.name), field.name
