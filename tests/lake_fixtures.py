"""Replayed raw lakes for the orchestration tests: realistic tagged records in Firehose's layout.

`build_lake` writes Parquet files with `records.TAGGED_ARROW_SCHEMA` at Firehose-style keys
(`posts/YYYY/MM/DD/HH/<delivery>-1-...parquet`) for several arrival hours, the way the
delivery would: organic posts and fraud campaigns (the same text from many fresh DIDs, with
scam domains and media), at-least-once duplicates across files, edits, and deletes both in
the same hour and in a later hour than their post. `LakeTruth` says what the compacted lake
must hold, computed independently of the compaction code (plain Python over the records).
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from fraud_pipeline.lake.paths import firehose_object_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import TAGGED_ARROW_SCHEMA, TaggedRecord, iso_from_us, tagged_rows_to_table
from fraud_pipeline.settings import Settings

ORGANIC_TEXTS = (
    "Morning run done, the river trail is gorgeous today",
    "Anyone else watching the match tonight?",
    "New blog post about sourdough starters is up",
    "Reading a great book on distributed systems",
    "Coffee first, then code review",
    "The cat has claimed my keyboard again",
)
ORGANIC_DOMAINS = ("github.com", "en.wikipedia.org", "nytimes.com", "bsky.app")
CAMPAIGNS = (
    ("Elon is giving away 5000 ETH! Send 0.1 ETH and receive 1 ETH back instantly", "eth-giveaway.live"),
    ("Your wallet is compromised. Verify your seed phrase now to keep your funds safe", "wallet-verify.io"),
    ("Support here: your account will be suspended, recover it at our secure portal", "bsky-support.help"),
)


@dataclass
class LakeTruth:
    """What a correct compaction of the built lake contains."""

    hours: list[datetime]
    live: dict[datetime, dict[str, TaggedRecord]] = field(default_factory=dict)  # hour -> uri -> newest
    deleted: set[str] = field(default_factory=set)
    rows_written: int = 0
    campaign_texts: dict[str, set[str]] = field(default_factory=dict)  # text -> distinct DIDs
    fraud_domains: set[str] = field(default_factory=set)

    @property
    def live_uris(self) -> set[str]:
        return {uri for by_uri in self.live.values() for uri in by_uri}


def _did(rng: random.Random, fresh: bool) -> str:
    return f"did:plc:{'scam' if fresh else 'user'}{rng.getrandbits(40):010x}"


def make_record(
    rng: random.Random,
    time_us: int,
    *,
    fraud: bool,
    text: str,
    did: str,
    domain: str | None = None,
    media: bool = False,
    campaign_id: str | None = None,
) -> TaggedRecord:
    """One created post with a verdict, shaped like the scorer's output."""
    rkey = f"3l{rng.getrandbits(50):013x}"
    text_p = rng.uniform(0.75, 0.99) if fraud else rng.uniform(0.01, 0.3)
    media_p = (rng.uniform(0.6, 0.95) if fraud else rng.uniform(0.0, 0.2)) if media else None
    links = [f"https://{domain}/{rng.getrandbits(20):x}"] if domain else []
    cid = f"bafyrei{rng.getrandbits(60):015x}"
    return TaggedRecord(
        uri=f"at://{did}/app.bsky.feed.post/{rkey}",
        time_utc=iso_from_us(time_us),
        text=text,
        media_paths=[f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg"] if media else [],
        fraud_text_likelihood=text_p,
        fraud_media_likelihood=media_p,
        did=did,
        rkey=rkey,
        cid=cid,
        operation="create",
        time_us=time_us,
        created_at=iso_from_us(time_us),
        langs=["en"],
        links=links,
        domains=[domain] if domain else [],
        mentions=[],
        tags=["crypto"] if fraud else [],
        reply_root=None,
        reply_parent=None,
        embed_kind="images" if media else ("external" if domain else None),
        media_kinds=["image"] if media else [],
        media_cids=[cid] if media else [],
        media_alts=[""] if media else [],
        quote_uri=None,
        external_uri=links[0] if links else None,
        fraud_score=max(text_p, media_p or 0.0),
        is_fraud=fraud,
        labels=(["scam"] if fraud else []) + ([f"campaign:{campaign_id}"] if campaign_id else []),
        reasons=["text_model"] if fraud else [],
        rule_hits=["crypto_giveaway"] if fraud else [],
        text_model_version="text-test-1",
        media_model_version="media-test-1" if media else None,
        ingested_at_us=time_us + rng.randint(1_000, 50_000),
        scored_at_us=time_us + rng.randint(60_000, 400_000),
        action=("label" if text_p >= 0.95 else "review") if fraud else "none",
        policy_version="policy-test-1",
        campaign_id=campaign_id,
    )


def deletion_of(record: TaggedRecord, time_us: int) -> TaggedRecord:
    """The delete event of a post, as the scorer passes it through (no scores)."""
    return replace(
        record,
        operation="delete",
        time_us=time_us,
        time_utc=iso_from_us(time_us),
        text="",
        media_paths=[],
        fraud_text_likelihood=None,
        fraud_media_likelihood=None,
        fraud_score=None,
        is_fraud=False,
        cid=None,
        labels=[],
        reasons=[],
        rule_hits=[],
        ingested_at_us=time_us + 1_000,
        scored_at_us=time_us + 2_000,
    )


def write_raw_file(
    store: ObjectStore, settings: Settings, arrival: datetime, rows: list[TaggedRecord]
) -> str:
    """One delivered file at a Firehose-style key of the arrival time."""
    table = tagged_rows_to_table([dataclass_row(r) for r in rows])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    key = firehose_object_key(settings.posts_prefix, settings.delivery_stream, arrival)
    store.put_bytes(key, sink.getvalue().to_pybytes())
    return key


def dataclass_row(record: TaggedRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in TAGGED_ARROW_SCHEMA.names}


def recent_hours(count: int, now: datetime | None = None, back: int = 1) -> list[datetime]:
    """`count` consecutive closed hours ending `back` hours before the current one."""
    current = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=back + count - 1 - i) for i in range(count)]


def build_lake(
    store: ObjectStore,
    settings: Settings,
    hours: list[datetime],
    posts_per_hour: int = 120,
    files_per_hour: int = 3,
    seed: int = 7,
) -> LakeTruth:
    """Write a raw lake over `hours` and return the truth a compaction must reach."""
    rng = random.Random(seed)
    truth = LakeTruth(hours=list(hours))
    delivered: dict[datetime, list[TaggedRecord]] = defaultdict(list)
    created: list[tuple[datetime, TaggedRecord]] = []
    for h_index, hour in enumerate(hours):
        base_us = int(hour.timestamp() * 1_000_000)
        for i in range(posts_per_hour):
            t_us = base_us + int((i + rng.random()) * 3_600_000_000 / (posts_per_hour + 1))
            if i % 5 == 0:  # a campaign: same text, fresh accounts, scam domain, often media
                text, domain = CAMPAIGNS[(i // 5 + h_index) % len(CAMPAIGNS)]
                rec = make_record(
                    rng,
                    t_us,
                    fraud=True,
                    text=text,
                    did=_did(rng, True),
                    domain=domain,
                    media=i % 2 == 0,
                    campaign_id=hashlib.blake2b(text.encode(), digest_size=12).hexdigest(),
                )
                truth.campaign_texts.setdefault(text, set()).add(rec.did)
                truth.fraud_domains.add(domain)
            else:
                domain = rng.choice(ORGANIC_DOMAINS) if i % 3 == 0 else None
                rec = make_record(
                    rng,
                    t_us,
                    fraud=False,
                    text=f"{rng.choice(ORGANIC_TEXTS)} #{i}",
                    did=_did(rng, False),
                    domain=domain,
                    media=i % 4 == 1,
                )
            delivered[hour].append(rec)
            created.append((hour, rec))
            if i % 9 == 0:  # at-least-once: the same record delivered again
                delivered[hour].append(rec)
            if i % 23 == 4:  # an edit later in the same hour (newer version wins)
                delivered[hour].append(
                    replace(
                        rec,
                        operation="update",
                        text=rec.text + " (edited)",
                        time_us=t_us + 1_000_000,
                        time_utc=iso_from_us(t_us + 1_000_000),
                        ingested_at_us=rec.ingested_at_us + 1_000_000,
                        scored_at_us=rec.scored_at_us + 1_000_000,
                    )
                )
    # Deletes: some in the same hour as their post, some one hour later.
    for n, (hour, rec) in enumerate(created):
        if n % 17 == 3:
            next_hour = hour + timedelta(hours=1)
            if n % 2 and next_hour in delivered:
                delivered[next_hour].append(
                    deletion_of(rec, int(next_hour.timestamp() * 1_000_000) + 5_000_000)
                )
            else:
                delivered[hour].append(deletion_of(rec, rec.time_us + 2_000_000))
    # Newest version per uri across the lake; the arrival hour of that version owns it.
    newest: dict[str, tuple[datetime, TaggedRecord]] = {}
    for hour, rows in delivered.items():
        for rec in rows:
            seen = newest.get(rec.uri)
            if (
                seen is None
                or rec.time_us > seen[1].time_us
                or (rec.time_us == seen[1].time_us and rec.operation == "delete")
            ):
                newest[rec.uri] = (hour, rec)
    for uri, (hour, rec) in newest.items():
        if rec.operation == "delete":
            truth.deleted.add(uri)
        else:
            truth.live.setdefault(hour, {})[uri] = rec
    for hour in hours:
        rows = delivered[hour]
        rng.shuffle(rows)
        chunk = max(1, -(-len(rows) // files_per_hour))
        for f in range(0, len(rows), chunk):
            write_raw_file(
                store, settings, hour + timedelta(minutes=5 + f // chunk * 10), rows[f : f + chunk]
            )
        truth.rows_written += len(rows)
    return truth
