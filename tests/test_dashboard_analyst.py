"""The analyst views' API over real HTTP: review queue, campaigns, labels, rule hits, quotas, health.

Everything is written through the project's ports (lake files in the delivery layout, the label
store, the metrics port, the state store), and expectations are computed from what was written.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fraud_pipeline.dashboard import bluesky_links
from fraud_pipeline.dashboard.app import DashboardState, running
from fraud_pipeline.dashboard.verdict_index import VerdictIndex
from fraud_pipeline.labeler.labels import Label
from fraud_pipeline.labeler.store import Override, SqliteLabelStore
from fraud_pipeline.metrics import MetricDatum, open_metrics
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.policy.source import default_policy_dir
from fraud_pipeline.records import TaggedRecord, iso_from_us
from fraud_pipeline.scoring.quotas import quota_key, utc_day
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state
from tests.conftest import free_port
from tests.dashboard_fixtures import tagged, write_lake_file

LABELER_DID = "did:web:labeler.test"


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post(
    rng: random.Random,
    time_us: int,
    action: str,
    *,
    text: str = "",
    campaign: str | None = None,
    domain: str | None = None,
    did: str | None = None,
) -> TaggedRecord:
    record = tagged(rng, time_us, fraud=action != "none", text=text or f"post at {time_us}", domain=domain)
    record.action = action
    record.policy_version = "pol-1"
    record.campaign_id = campaign
    record.rule_hits = ["risky_link", "shadow:new_rule"] if action != "none" else []
    record.reasons = [f"reason for {action}"] if action != "none" else []
    if did is not None:
        record.did = did
        record.uri = f"at://{did}/app.bsky.feed.post/{record.rkey}"
    return record


def follow_up(record: TaggedRecord, operation: str, time_us: int, **changes: Any) -> TaggedRecord:
    """A delete or a verdict update for `record`, as the pipeline writes them."""
    update = TaggedRecord(**{name: getattr(record, name) for name in record.__slots__})  # type: ignore[attr-defined]
    update.operation = operation
    update.text = ""
    update.scored_at_us = time_us
    for name, value in changes.items():
        setattr(update, name, value)
    return update


@pytest.fixture()
def now_us() -> int:
    return int(time.time() * 1_000_000)


@pytest.fixture()
def lake(local_settings: Settings, now_us: int) -> dict[str, Any]:
    """Two delivered files: reviews, labels, unflagged posts, a campaign, then a delete and a
    campaign verdict update that re-labels an unflagged post into review."""
    rng = random.Random(14)
    first = [
        post(rng, now_us - 60_000_000 + i * 1_000_000, ["review", "label", "none"][i % 3], text=f"first {i}")
        for i in range(12)
    ]
    campaign = [
        post(
            rng,
            now_us - 50_000_000 + i * 2_000_000,
            "label",
            campaign="camp-1",
            domain=f"scam{i % 2}.example",
        )
        for i in range(5)
    ]
    bad_did = post(rng, now_us - 40_000_000, "review", text="bad did", did="did:plc:evil/../x")
    write_lake_file(
        local_settings, first + campaign + [bad_did], datetime.fromtimestamp(now_us / 1e6 - 30, UTC)
    )
    deleted = first[0]  # a review post the author deleted
    relabelled = first[2]  # unflagged, then re-labelled by a campaign into review
    later = [
        follow_up(deleted, "delete", now_us - 10_000_000, action="none"),
        follow_up(
            relabelled,
            "verdict",
            now_us - 9_000_000,
            action="review",
            is_fraud=True,
            campaign_id="camp-1",
            labels=["spam-campaign"],
            reasons=["re-labelled: campaign camp-1 crossed the bar"],
            rule_hits=["campaign_relabel"],
        ),
    ]
    time.sleep(0.01)  # a later file (the key carries the time)
    write_lake_file(local_settings, later, datetime.fromtimestamp(now_us / 1e6, UTC))
    reviews = [r for r in [*first, bad_did] if r.action == "review" and r is not deleted]
    reviews.append(relabelled)
    return {
        "reviews": sorted(reviews, key=lambda r: (-r.time_us, r.uri)),
        "deleted": deleted,
        "relabelled": relabelled,
        "campaign": [*campaign, relabelled],
        "bad_did": bad_did,
    }


@pytest.fixture()
def served(local_settings: Settings) -> Iterator[str]:
    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        yield url
    state.close()


def test_review_queue_is_newest_first_with_verdict_updates_and_deletes_applied(
    lake: dict[str, Any], served: str
) -> None:
    status, body = get(served + "/api/analyst/review?limit=500")
    assert status == 200 and body["status"] == "ok"
    expected = lake["reviews"]
    assert [r["uri"] for r in body["rows"]] == [r.uri for r in expected]
    assert body["total_in_window"] == len(expected)
    assert lake["deleted"].uri not in {r["uri"] for r in body["rows"]}
    first = body["rows"][0]
    source = expected[0]
    assert first["reasons"] == source.reasons and first["rule_hits"] == source.rule_hits
    assert first["fraud_score"] == pytest.approx(source.fraud_score)
    assert first["policy_version"] == "pol-1" and first["text"] == source.text
    relabelled = next(r for r in body["rows"] if r["uri"] == lake["relabelled"].uri)
    assert relabelled["relabelled"] and relabelled["campaign_id"] == "camp-1"
    assert relabelled["text"] == lake["relabelled"].text  # the post's own text, read back for it
    assert "campaign_relabel" in relabelled["rule_hits"] and "spam-campaign" in relabelled["labels"]


def test_review_queue_links_to_bluesky_only_for_valid_identifiers(lake: dict[str, Any], served: str) -> None:
    _, body = get(served + "/api/analyst/review?limit=500")
    for row in body["rows"]:
        if row["uri"] == lake["bad_did"].uri:
            assert row["post_url"] is None and row["account_url"] is None
            continue
        did, _, rkey = row["uri"].removeprefix("at://").split("/")
        assert row["post_url"] == f"https://bsky.app/profile/{did}/post/{rkey}"
        assert row["account_url"] == f"https://bsky.app/profile/{did}"


def test_review_queue_pages_without_gaps_or_repeats(lake: dict[str, Any], served: str) -> None:
    seen: list[str] = []
    cursor = ""
    for _ in range(20):
        _, body = get(
            served
            + "/api/analyst/review?limit=2"
            + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        )
        assert len(body["rows"]) <= 2
        seen += [r["uri"] for r in body["rows"]]
        if not body["next"]:
            break
        cursor = body["next"]
    assert seen == [r.uri for r in lake["reviews"]]


def test_bad_parameters_are_refused(lake: dict[str, Any], served: str) -> None:
    assert get(served + "/api/analyst/review?limit=0")[0] == 400
    assert get(served + "/api/analyst/review?cursor=nonsense")[0] == 400
    assert get(served + "/api/analyst/labels?before=-3")[0] == 400
    assert get(served + "/api/analyst/rules?range=5")[0] == 400
    status, body = get(served + "/api/analyst/campaigns/no-such-campaign")
    assert status == 404 and "unknown campaign" in body["error"]


def _label_store(settings: Settings) -> SqliteLabelStore:
    return SqliteLabelStore(settings.labels_path)


def _label(uri: str, val: str, neg: bool = False) -> Label:
    return Label(src=LABELER_DID, uri=uri, val=val, cts="2026-11-30T10:00:00.000Z", neg=neg, sig=b"\x01" * 64)


def test_campaigns_list_and_detail(lake: dict[str, Any], local_settings: Settings, served: str) -> None:
    campaign = lake["campaign"]
    store = _label_store(local_settings)
    store.append([_label(campaign[0].uri, "spam-campaign"), _label(campaign[1].uri, "spam-campaign")])
    store.append([_label(campaign[1].uri, "spam-campaign", neg=True)])
    store.close()

    status, body = get(served + "/api/analyst/campaigns")
    assert status == 200
    row = next(c for c in body["rows"] if c["campaign_id"] == "camp-1")
    assert row["posts"] == len(campaign)
    assert row["accounts"] == len({r.did for r in campaign})
    assert row["labelled"] == {"published": 1, "negated": 1}
    assert row["first_seen"] == iso_from_us(min(r.time_us for r in campaign))
    assert "not built" in body["marts_note"]  # no warehouse yet: live window only, and it says so

    status, detail = get(served + "/api/analyst/campaigns/camp-1")
    assert status == 200
    first_seen = {a["did"]: a["first_seen"] for a in detail["accounts"]}
    assert first_seen == {r.did: iso_from_us(r.time_us) for r in campaign}
    assert [a["first_seen"] for a in detail["accounts"]] == sorted(first_seen.values())
    assert {d["domain"]: d["posts_in_window"] for d in detail["domains"]} == {
        "scam0.example": 3,
        "scam1.example": 2,
    }
    assert sum(b["posts"] for b in detail["size_over_time"]["window"]) == len(campaign)
    assert [e["uri"] for e in detail["examples"]] == [
        r.uri for r in sorted(campaign, key=lambda r: -r.time_us)
    ]
    example = next(e for e in detail["examples"] if e["uri"] == campaign[0].uri)
    assert example["label_state"] == {"published": ["spam-campaign"], "negated": []}


def test_campaign_history_comes_from_the_marts(
    lake: dict[str, Any], local_settings: Settings, served: str
) -> None:
    import duckdb

    path = Path(local_settings.warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE fraud_campaigns AS SELECT 'old-1' AS campaign_id, 'buy now' AS sample_text, "
        "40::BIGINT AS posts, 9::BIGINT AS accounts, 40::BIGINT AS fraud_posts, "
        "TIMESTAMP '2026-11-01 10:00:00' AS first_seen, TIMESTAMP '2026-11-01 12:30:00' AS last_seen, "
        "['old.example'] AS domains"
    )
    con.execute(
        "CREATE TABLE int_hourly_texts AS SELECT "
        "TIMESTAMP '2026-11-01 10:00:00' + INTERVAL (h) HOUR AS arrival_hour, 'old-1' AS campaign_id, "
        "'buy now' AS sample_text, (10 + h)::BIGINT AS posts, 0::BIGINT AS fraud_posts, "
        "['did:plc:aaa', 'did:plc:b' || h::VARCHAR] AS dids, "
        "TIMESTAMP '2026-11-01 10:00:00' + INTERVAL (h) HOUR AS first_seen, "
        "TIMESTAMP '2026-11-01 10:30:00' + INTERVAL (h) HOUR AS last_seen, ['old.example'] AS domains "
        "FROM range(3) t(h)"
    )
    con.close()
    _, body = get(served + "/api/analyst/campaigns")
    old = next(c for c in body["rows"] if c["campaign_id"] == "old-1")
    assert old["source"] == "marts" and old["posts"] == 40 and old["accounts"] == 9
    assert body["rows"][0]["campaign_id"] == "camp-1"  # newest activity first
    status, detail = get(served + "/api/analyst/campaigns/old-1")
    assert status == 200
    assert [h["posts"] for h in detail["size_over_time"]["hourly"]] == [10, 11, 12]
    accounts = {a["did"]: a["first_seen"] for a in detail["accounts"]}
    assert accounts["did:plc:aaa"].startswith("2026-11-01T10:00") and accounts["did:plc:b2"].startswith(
        "2026-11-01T12:00"
    )


def test_labels_published_negated_and_overrides_newest_first(local_settings: Settings, served: str) -> None:
    assert get(served + "/api/analyst/labels")[1]["status"] == "empty"  # no labeler yet: no file made
    assert not local_settings.labels_path.exists()
    store = _label_store(local_settings)
    uris = [f"at://did:plc:author{i}/app.bsky.feed.post/3k{i}" for i in range(5)]
    store.append([_label(u, "scam") for u in uris])
    store.append(
        [_label(uris[2], "scam", neg=True)],
        overrides=[Override(uris[2], "scam", "a news report about scams", "2026-11-30T10:05:00.000Z", "ana")],
    )
    store.close()
    status, body = get(served + "/api/analyst/labels?limit=3")
    assert status == 200 and body["head_seq"] == 6
    assert [r["seq"] for r in body["rows"]] == [6, 5, 4]
    negation = body["rows"][0]
    assert negation["neg"] and negation["override"] and negation["made_by"] == "ana"
    assert negation["override_reason"] == "a news report about scams"
    assert body["rows"][1]["made_by"] == "labeler" and body["rows"][1]["src"] == LABELER_DID
    assert not body["rows"][1]["override"]
    assert body["rows"][1]["post_url"] == "https://bsky.app/profile/did:plc:author4/post/3k4"
    assert body["overrides"][0]["reason"] == "a news report about scams"
    assert body["overrides"][0]["made_by"] == "ana"
    _, older = get(served + f"/api/analyst/labels?limit=3&before={body['next_before_seq']}")
    assert [r["seq"] for r in older["rows"]] == [3, 2, 1] and older["next_before_seq"] is None


def test_rule_hits_per_rule_with_shadow_rules_and_quota_status(
    tmp_path: Path, local_settings: Settings
) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), policy)
    rules = policy / "rules.yaml"
    text = rules.read_text()
    assert "  - name: fake_support\n" in text
    rules.write_text(text.replace("  - name: fake_support\n", "  - name: fake_support\n    mode: shadow\n"))
    settings = dataclasses.replace(local_settings, policy_dir=str(policy))
    now_ms = int(time.time() * 1000)
    sink = open_metrics(settings)
    data = []
    for i, (rule, mode, hits) in enumerate(
        [("risky_link", "active", 5), ("fake_support", "shadow", 3), ("risky_link", "active", 2)]
    ):
        dims = {"Rule": rule, "Mode": mode}
        data.append(MetricDatum("Rule-Hits", float(hits), "Count", now_ms - 60_000 + i * 1000, dims))
    data.append(
        MetricDatum("Rule-Hits", 50.0, "Count", now_ms - 7200_000, {"Rule": "risky_link", "Mode": "active"})
    )
    sink.put(settings.metric_namespace, data)
    sink.close()
    state_store = open_state(settings)
    day = utc_day(now_ms * 1000)
    state_store.increment(quota_key("phishing", day), 7)
    state_store.close()

    dashboard = DashboardState(settings)
    with running(dashboard, free_port()) as url:
        status, body = get(url + "/api/analyst/rules?range=900")
    dashboard.close()
    assert status == 200
    hits = {r["rule"]: r for r in body["rules"]}
    assert hits["risky_link"]["hits"] == 7  # the 2-hour-old hits are outside the range
    assert hits["fake_support"]["hits"] == 3 and hits["fake_support"]["mode"] == "shadow"
    assert hits["fake_support"]["recorded_as"] == "shadow:fake_support"
    assert body["rules"][0]["rule"] == "risky_link"
    quotas = {q["label"]: q for q in body["quotas"]}
    assert quotas["phishing"]["used"] == 7 and quotas["phishing"]["limit"] == 50_000
    assert quotas["phishing"]["remaining"] == 50_000 - 7 and not quotas["phishing"]["tripped"]
    assert quotas["scam-account"]["used"] == 0


def test_health_reuses_the_status_collectors_in_the_background(lake: dict[str, Any], served: str) -> None:
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, body = get(served + "/api/analyst/health")
        assert status == 200
        if body["verdict"] != "checking":
            break
        time.sleep(0.2)
    assert body["verdict"] in ("healthy", "degraded", "stopped")
    assert {"streams", "scoring", "lake", "marts", "ingest"} <= set(body)
    assert body["lake"]["newest_raw_file"].startswith(local_posts_prefix())
    assert body["ingest"]["window_s"] == 60


def local_posts_prefix() -> str:
    return Settings().posts_prefix


def test_index_reads_each_delivered_file_once(local_settings: Settings, now_us: int) -> None:
    rng = random.Random(2)
    write_lake_file(
        local_settings, [post(rng, now_us - 5_000_000, "review")], datetime.now(UTC) - timedelta(seconds=5)
    )
    index = VerdictIndex(ObjectStore.from_settings(local_settings), local_settings, refresh_every_s=0)
    assert len(index.view().posts) == 1 and index.files_read == 1
    assert len(index.view().posts) == 1 and index.files_read == 1  # nothing new: nothing re-read
    time.sleep(0.01)
    write_lake_file(local_settings, [post(rng, now_us, "label")], datetime.now(UTC))
    view = index.view()
    assert [p["action"] for p in view.posts] == ["label", "review"] and index.files_read == 2


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "at://did:plc:abc234/app.bsky.feed.post/3kabc",
            "https://bsky.app/profile/did:plc:abc234/post/3kabc",
        ),
        (
            "at://did:web:example.com%3A8080/app.bsky.feed.post/a~b.c",
            "https://bsky.app/profile/did:web:example.com%253A8080/post/a~b.c",
        ),
        ("at://did:plc:abc/app.bsky.feed.like/3kabc", None),  # not a post
        ("at://did:plc:abc/app.bsky.feed.post/..", None),  # rkey "." and ".." are not record keys
        ("at://did:plc:abc/app.bsky.feed.post/a?b", None),
        ("at://did:key:zQ3shabc/app.bsky.feed.post/3kabc", None),  # not an atproto account DID
        ("at://did:plc:a%zz/app.bsky.feed.post/3kabc", None),  # broken percent-encoding
        ("at://javascript:alert(1)/app.bsky.feed.post/x", None),
        ("at://did:plc:abc/app.bsky.feed.post/x/extra", None),
        ("https://evil.example/app.bsky.feed.post/x", None),
    ],
)
def test_post_links_are_built_only_from_valid_identifiers(uri: str, expected: str | None) -> None:
    assert bluesky_links.post_url(uri) == expected


def test_account_links() -> None:
    assert bluesky_links.account_url("did:plc:z72i7hdynmk6r22z27h6tvur") == (
        "https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur"
    )
    for bad in (
        "did:plc:",
        "did:plc:x#y",
        "handle.bsky.social",
        "",
        None,
        "did:plc:\u202eabc",
        "did:plc:" + "a" * 3000,
    ):
        assert bluesky_links.account_url(bad) is None, bad


def test_incremental_picture_equals_a_fresh_one(
    lake: dict[str, Any], local_settings: Settings, now_us: int
) -> None:
    """A file added to a built index (new posts, a delete, a verdict update) gives the same
    picture as reading everything from scratch."""
    store = ObjectStore.from_settings(local_settings)
    index = VerdictIndex(store, local_settings, refresh_every_s=0)
    index.view()
    rng = random.Random(5)
    review = lake["reviews"][3]
    newer = [
        post(rng, now_us + 1_000_000, "review", text="newest"),
        follow_up(review, "delete", now_us + 2_000_000, action="none"),
        follow_up(lake["campaign"][0], "verdict", now_us + 3_000_000, action="review", labels=["x"]),
    ]
    time.sleep(0.01)
    write_lake_file(local_settings, newer, datetime.now(UTC) + timedelta(seconds=1))
    incremental = index.view()
    fresh = VerdictIndex(store, local_settings).view()
    assert [(p["uri"], p["action"], p["labels"]) for p in incremental.posts] == [
        (p["uri"], p["action"], p["labels"]) for p in fresh.posts
    ]
    assert review.uri not in {p["uri"] for p in incremental.posts}
    assert incremental.posts[0]["text"] == "newest"


def test_first_picture_is_read_in_the_background_newest_hour_first(
    local_settings: Settings, now_us: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With millions of posts the first read takes seconds: a request never waits for it, and
    the picture fills hour by hour from the newest while the older hours are read."""
    import threading

    from fraud_pipeline.dashboard import verdict_index

    rng = random.Random(1)
    now = datetime.now(UTC)
    older = write_lake_file(
        local_settings, [post(rng, now_us - 3_600_000_000, "label")], now - timedelta(hours=1)
    )
    write_lake_file(local_settings, [post(rng, now_us, "review")], now)
    newest_read, gate = threading.Event(), threading.Event()
    read_file = verdict_index._read_file

    def slow_read(store: Any, key: str, size: int) -> Any:
        if key == older:
            gate.wait(30)  # the older hour is slow to read
        else:
            newest_read.wait(30)  # ... and so is the newest, until the test has asked once
        return read_file(store, key, size)

    monkeypatch.setattr(verdict_index, "_read_file", slow_read)
    monkeypatch.setattr(verdict_index, "SMALL_WINDOW_FILES", 0)  # as a big lake would be answered
    index = VerdictIndex(ObjectStore.from_settings(local_settings), local_settings)
    started = time.monotonic()
    first = index.view()
    assert first.building and first.posts == [] and time.monotonic() - started < 5
    newest_read.set()
    deadline = time.monotonic() + 30
    while not index.view().hours and time.monotonic() < deadline:
        time.sleep(0.02)
    partial = index.view()  # the newest hour read, the older one not yet
    assert partial.building and len(partial.hours) == 1 and partial.hours_total == 2
    assert [p["action"] for p in partial.posts] == ["review"]
    gate.set()
    while index.view().building and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p["action"] for p in index.view().posts] == ["review", "label"]
    assert index.files_read == 2  # each file read once, the final merge included
