"""The object-store port: the same calls on a folder and on S3 (moto)."""

from __future__ import annotations

import gzip

import pytest

from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings


@pytest.fixture(params=["local", "aws"])
def store(request: pytest.FixtureRequest, local_settings: Settings) -> ObjectStore:
    settings = local_settings if request.param == "local" else request.getfixturevalue("aws_settings")
    objects = ObjectStore.from_settings(settings)
    objects.ensure_bucket()
    return objects


def test_bytes_round_trip_exactly_whatever_the_extension(store: ObjectStore) -> None:
    archive = gzip.compress(b"model bytes")
    store.put_bytes("models/text/v1/model.tar.gz", archive)
    store.put_bytes("posts/2026/11/29/14/a.parquet", b"PAR1...")
    assert store.get_bytes("models/text/v1/model.tar.gz") == archive  # not transparently gunzipped
    assert store.exists("posts/2026/11/29/14/a.parquet") and not store.exists("posts/nope")
    with pytest.raises(FileNotFoundError):
        store.get_bytes("posts/nope")


def test_listing_and_prefixes(store: ObjectStore) -> None:
    for key in ("posts/2026/11/29/13/a.parquet", "posts/2026/11/29/14/b.parquet", "errors/x.jsonl"):
        store.put_bytes(key, b"x" * 3)
    keys = sorted(info.key for info in store.list_objects("posts/"))
    assert keys == ["posts/2026/11/29/13/a.parquet", "posts/2026/11/29/14/b.parquet"]
    assert all(info.size == 3 for info in store.list_objects("posts/"))
    assert store.list_dirs("posts/2026/11/29/") == ["posts/2026/11/29/13/", "posts/2026/11/29/14/"]
    assert list(store.list_objects("missing/")) == []
    store.delete_prefix("posts/2026/11/29/13/")
    assert [i.key for i in store.list_objects("posts/")] == ["posts/2026/11/29/14/b.parquet"]
    assert store.uri("posts/x").startswith("s3://" if not store.is_local else "file://")
