"""Retroactive re-labelling: a campaign's verdict updates reach the compacted lake."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow.parquet as pq
import pytest
from lake_fixtures import write_raw_file

from fraud_pipeline.lake.compaction import compact_hour, compacted_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import VERDICT_OPERATION, Post, TaggedRecord
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.settings import Settings
from tests.scoring_fixtures import KeywordScorer

H0 = datetime(2026, 11, 29, 10, tzinfo=UTC)
H1 = H0 + timedelta(hours=1)
SCAM = "Hey everyone, I found a site with great tips for everyday life, have a look"


def _campaign(start: datetime, accounts: int = 40) -> list[Post]:
    """The issue's shape: one bland text with a link from brand-new accounts within 4 minutes,
    starting 2 minutes before the hour ends, so it straddles two delivery hours."""
    rng = random.Random(4)
    t0 = int((start + timedelta(minutes=58)).timestamp() * 1_000_000)
    posts = []
    for i in range(accounts):
        did = f"did:plc:fresh{i:018d}"
        rkey = f"3m{i:011d}"
        url = f"https://tips-site.xyz/{rng.getrandbits(24):x}"
        posts.append(
            Post(
                uri=f"at://{did}/app.bsky.feed.post/{rkey}",
                did=did,
                rkey=rkey,
                operation="create",
                time_us=t0 + rng.randrange(240_000_000),
                text=f"{SCAM} {url}",
                links=[url],
                domains=["tips-site.xyz"],
            )
        )
    return sorted(posts, key=lambda p: p.time_us)


def _score(posts: list[Post], batch: int = 8) -> list[TaggedRecord]:
    scorer = PostScorer(KeywordScorer(), None)
    out: list[TaggedRecord] = []
    for start in range(0, len(posts), batch):
        out.extend(scorer.score(posts[start : start + batch])[0])
    return out


def _deliver(store: ObjectStore, settings: Settings, tagged: list[TaggedRecord]) -> None:
    """Through JSON as on the tagged stream, into the arrival hour of each record's event time
    (a verdict arrives with the post that crossed the bar, so possibly an hour later)."""
    arrived: dict[datetime, list[TaggedRecord]] = {}
    clock = 0
    for record in tagged:
        clock = max(clock, record.time_us) if record.operation != VERDICT_OPERATION else clock
        hour = datetime.fromtimestamp(clock / 1e6, UTC).replace(minute=0, second=0, microsecond=0)
        arrived.setdefault(hour, []).append(TaggedRecord(**orjson.loads(record.to_json())))
    for hour, rows in arrived.items():
        write_raw_file(store, settings, hour + timedelta(minutes=5), rows)


def _compacted(store: ObjectStore, settings: Settings) -> dict[str, dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    for hour in (H0, H1):
        table = pq.read_table(store.path(compacted_key(settings, hour)), filesystem=store.fs)
        rows.update({r["uri"]: r for r in table.to_pylist()})
    return rows


@pytest.mark.parametrize("order", [(H0, H1), (H1, H0)], ids=["in-order", "later-hour-first"])
def test_relabelling_reaches_the_compacted_lake(
    local_settings: Settings, order: tuple[datetime, ...]
) -> None:
    posts = _campaign(H0)
    tagged = _score(posts)
    scored = {t.uri: t for t in tagged if t.operation == "create"}
    updates = [t for t in tagged if t.operation == VERDICT_OPERATION]
    missed = {uri for uri, t in scored.items() if not t.is_fraud}
    assert missed and {u.uri for u in updates} == missed  # the first posts went out unflagged

    store = ObjectStore.from_settings(local_settings)
    _deliver(store, local_settings, tagged)
    results = [compact_hour(store, local_settings, hour) for hour in order]
    lake = _compacted(store, local_settings)

    assert set(lake) == set(scored)  # verdict rows are applied, never rows of their own
    assert all(row["is_fraud"] for row in lake.values())
    assert all(row["action"] in ("review", "label") for row in lake.values())
    for uri in missed:
        row = lake[uri]
        assert row["text"] == scored[uri].text  # the post itself is kept
        assert "spam-campaign" in row["labels"] and "campaign_relabel" in row["rule_hits"]
        assert any(r.startswith("re-labelled: campaign") for r in row["reasons"])
        assert row["campaign_id"]
    assert sum(r.verdicts_applied for r in results) == len(missed)
    assert sum(r.invalid_rows for r in results) == 0

    # Compacting again changes nothing (a verdict applied twice adds nothing).
    before = {h: store.get_bytes(compacted_key(local_settings, h)) for h in (H0, H1)}
    for hour in (H0, H1):
        compact_hour(store, local_settings, hour)
    assert {h: store.get_bytes(compacted_key(local_settings, h)) for h in (H0, H1)} == before


def test_the_latest_verdict_wins(local_settings: Settings) -> None:
    import dataclasses

    posts = _campaign(H0, accounts=40)
    tagged = _score(posts)
    update = next(t for t in tagged if t.operation == VERDICT_OPERATION)
    older = dataclasses.replace(update, action="label", scored_at_us=update.scored_at_us - 10)
    store = ObjectStore.from_settings(local_settings)
    write_raw_file(
        store, local_settings, H0 + timedelta(minutes=30), [t for t in tagged if t.operation == "create"]
    )
    write_raw_file(store, local_settings, H1 + timedelta(minutes=5), [update, older])
    compact_hour(store, local_settings, H0)
    compact_hour(store, local_settings, H1)
    row = _compacted(store, local_settings)[update.uri]
    assert row["action"] == update.action and row["is_fraud"]


def test_an_hour_compacted_first_after_a_much_later_verdict_gets_it(local_settings: Settings) -> None:
    """A verdict update delivered a week after its posts, its hour compacted before the posts'
    hours ever were (a late run, an out-of-order backfill): no index named them when the
    verdict's hour was compacted, and they lie beyond the 24 h a compaction reads by default."""
    tagged = _score(_campaign(H0))
    creates = [t for t in tagged if t.operation == "create"]
    updates = [t for t in tagged if t.operation == VERDICT_OPERATION]
    missed = {u.uri for u in updates}
    assert missed
    store = ObjectStore.from_settings(local_settings)
    _deliver(store, local_settings, creates)
    week = H0 + timedelta(days=7)
    write_raw_file(
        store,
        local_settings,
        week + timedelta(minutes=5),
        [TaggedRecord(**orjson.loads(u.to_json())) for u in updates],
    )
    assert compact_hour(store, local_settings, week).partitions_rewritten == []  # nothing to rewrite yet
    results = [compact_hour(store, local_settings, hour) for hour in (H0, H1)]
    lake = _compacted(store, local_settings)
    assert all(lake[uri]["is_fraud"] and "campaign_relabel" in lake[uri]["rule_hits"] for uri in missed)
    assert sum(r.verdicts_applied for r in results) == len(missed)
