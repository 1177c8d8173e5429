"""Accounts as evidence: account events normalized, each account signal, verdicts, benign repliers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fraud_pipeline.accounts.events import (
    FLAG_BAD_FIELD,
    FLAG_TRUNCATED,
    MAX_DESCRIPTION_CHARS,
    AccountEvent,
    normalize_account_event,
)
from fraud_pipeline.accounts.tracker import AccountTracker, AccountVerdict
from fraud_pipeline.accounts.windows import DIRECTORY_PREFIX
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.records import Post
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore

T0 = 1_764_000_000_000_000
MINUTE = 60_000_000
DAY = 86_400_000_000
SCAMMER = "did:plc:scammer00000000000000000"
HELPER = "did:plc:helper000000000000000000"


def commit(did: str, collection: str, record: Any, time_us: int = T0, op: str = "create", rkey: str = "self"):
    body: dict[str, Any] = {"rev": "r", "operation": op, "collection": collection, "rkey": rkey}
    if record is not None:
        body["record"] = record
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": body}


def profile(did: str, name: str | None, description: str | None, time_us: int = T0) -> AccountEvent:
    record = {"$type": "app.bsky.actor.profile", "displayName": name, "description": description}
    result = normalize_account_event(commit(did, "app.bsky.actor.profile", record, time_us))
    assert result.event is not None, result
    return result.event


def follow(did: str, subject: str, time_us: int) -> AccountEvent:
    record = {"$type": "app.bsky.graph.follow", "subject": subject, "createdAt": "2026-01-01T00:00:00Z"}
    result = normalize_account_event(
        commit(did, "app.bsky.graph.follow", record, time_us, rkey=f"f{time_us}")
    )
    assert result.event is not None, result
    return result.event


def identity(did: str, handle: str, time_us: int = T0) -> AccountEvent:
    event = {"did": did, "time_us": time_us, "kind": "identity", "identity": {"did": did, "handle": handle}}
    result = normalize_account_event(event)
    assert result.event is not None, result
    return result.event


def reply(did: str, to: str, text: str, time_us: int, n: int) -> Post:
    parent = f"at://{to}/app.bsky.feed.post/p{n}"
    return Post(
        uri=f"at://{did}/app.bsky.feed.post/r{n}",
        did=did,
        rkey=f"r{n}",
        operation="create",
        time_us=time_us,
        text=text,
        reply_root=parent,
        reply_parent=parent,
    )


@pytest.fixture
def tracker() -> AccountTracker:
    policy = load_default_policy()
    return AccountTracker(policy.spec, MemoryStateStore(), policy.version)


def seasoned(tracker: AccountTracker, did: str) -> None:
    """The account was first seen long ago (a month of history, within memory)."""
    tracker.observe(events=[identity(did, f"{did[8:20]}.bsky.social", T0 - 20 * DAY)])


def verdict(verdicts: list[AccountVerdict], did: str) -> AccountVerdict:
    return next(v for v in verdicts if v.did == did)


# -- normalizing ---------------------------------------------------------------------------


def test_profile_follow_identity_and_account_events_normalize() -> None:
    record = {
        "displayName": "Ann",
        "description": "hi",
        "avatar": {"$type": "blob", "ref": {"$link": "bafy"}},
    }
    p = normalize_account_event(commit(SCAMMER, "app.bsky.actor.profile", record))
    assert p.outcome == "event" and p.event is not None
    assert (p.event.kind, p.event.display_name, p.event.description, p.event.has_avatar) == (
        "profile",
        "Ann",
        "hi",
        True,
    )
    f = follow(SCAMMER, HELPER, T0)
    assert (f.kind, f.subject, f.rkey) == ("follow", HELPER, f"f{T0}")
    assert identity(SCAMMER, "Ann.BSKY.social").handle == "ann.bsky.social"
    a = normalize_account_event(
        {
            "did": SCAMMER,
            "time_us": T0,
            "kind": "account",
            "account": {"active": False, "status": "takendown"},
        }
    )
    assert a.event is not None and (a.event.active, a.event.status) == (False, "takendown")
    gone = normalize_account_event(commit(SCAMMER, "app.bsky.graph.follow", None, op="delete", rkey="x"))
    assert gone.event is not None and (gone.event.kind, gone.event.operation, gone.event.rkey) == (
        "follow",
        "delete",
        "x",
    )
    post = commit(SCAMMER, "app.bsky.feed.post", {"text": "hi"})
    assert normalize_account_event(post).outcome == "skipped"


def test_account_event_round_trips_through_json() -> None:
    event = profile(SCAMMER, "Ann", "hello")
    assert AccountEvent.from_dict(orjson.loads(event.to_json())) == event


def test_account_verdict_json_is_the_dataclass_bytes_and_round_trips() -> None:
    """to_json spells the fields out (orjson cannot read a compiled dataclass): every field,
    in order, as orjson writes the dataclass itself, and from_json reads it back."""
    verdict = AccountVerdict(
        did="did:plc:abc",
        time_us=1_700_000_000_000_001,
        score=0.8125,
        action="review",
        reasons=("reply_flood:16", "new_account"),
        handle="abc.bsky.social",
        policy_version="v7",
        signals={"reply_flood": 16, "profile_p": 0.5},
        previous_action="none",
        changed=True,
    )
    assert verdict.to_json() == orjson.dumps(verdict)
    assert AccountVerdict.from_json(verdict.to_json()) == verdict


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("not a dict", "not_an_object"),
        ({"kind": "identity", "time_us": T0, "identity": {"handle": "a.b"}}, "missing_did"),
        ({"kind": "identity", "did": SCAMMER, "identity": {"handle": "a.b"}}, "missing_time_us"),
        ({"kind": "identity", "did": SCAMMER, "time_us": T0, "identity": "a.b"}, "missing_identity"),
        ({"kind": "identity", "did": SCAMMER, "time_us": T0, "identity": {"handle": 7}}, "bad_handle"),
        ({"kind": "account", "did": SCAMMER, "time_us": T0, "account": {"active": "yes"}}, "bad_active"),
        (commit(SCAMMER, "app.bsky.graph.follow", {"subject": 42}), "bad_follow_subject"),
        (commit(SCAMMER, "app.bsky.graph.follow", None), "missing_record"),
        (commit(SCAMMER, "app.bsky.actor.profile", ["not", "a", "record"]), "missing_record"),
        (commit(SCAMMER, "app.bsky.actor.profile", {}, op="mutate"), "bad_operation"),
        (commit("did:" + "x" * 5000, "app.bsky.actor.profile", {}), "missing_did"),
    ],
)
def test_bad_account_events_are_malformed_with_a_reason(event: Any, reason: str) -> None:
    result = normalize_account_event(event)
    assert (result.outcome, result.reason) == ("malformed", reason)


def test_huge_and_mistyped_profile_fields_are_capped_or_ignored_and_flagged() -> None:
    record = {"displayName": ["not", "text"], "description": "x" * 1_000_000, "avatar": "nope"}
    result = normalize_account_event(commit(SCAMMER, "app.bsky.actor.profile", record))
    assert result.outcome == "event" and result.event is not None
    assert result.event.display_name is None
    assert len(result.event.description or "") == MAX_DESCRIPTION_CHARS
    assert set(result.flags) == {FLAG_BAD_FIELD, FLAG_TRUNCATED}
    assert len(result.event.to_json()) < 20_000


def test_deeply_nested_garbage_never_raises() -> None:
    nested: Any = {}
    for _ in range(100_000):
        nested = {"a": nested}
    event = {"kind": "commit", "did": SCAMMER, "time_us": T0, "commit": nested}
    assert normalize_account_event(event).outcome in {"skipped", "malformed"}
    bad = commit(SCAMMER, "app.bsky.actor.profile", {"displayName": nested, "description": b"bytes"})
    assert normalize_account_event(bad).outcome == "event"


# -- signals and verdicts ------------------------------------------------------------------


def test_profile_selling_recovery_with_whatsapp_and_phone_is_labelled(tracker: AccountTracker) -> None:
    seasoned(tracker, SCAMMER)
    text = "Certified account recovery expert. Lost funds? WhatsApp me +1 (555) 201-3344"
    v = verdict(tracker.observe(events=[profile(SCAMMER, "Recovery Pro", text)]), SCAMMER)
    assert {"profile_contact", "profile_phone", "profile_services"} <= set(v.reasons)
    assert v.action == "review" and "new_account" not in v.reasons
    # the same profile on a fresh account crosses the automatic bar
    fresh = "did:plc:fresh0000000000000000000"
    assert verdict(tracker.observe(events=[profile(fresh, "Recovery Pro", text)]), fresh).action == "label"


def test_profile_update_changes_the_verdict(tracker: AccountTracker) -> None:
    seasoned(tracker, SCAMMER)
    clean = verdict(tracker.observe(events=[profile(SCAMMER, "Ann", "I like cats", T0)]), SCAMMER)
    assert clean.action == "none"
    scam = "Hacker for hire: account recovery, telegram t.me/fixit"
    after = verdict(tracker.observe(events=[profile(SCAMMER, "Ann", scam, T0 + MINUTE)]), SCAMMER)
    assert after.action == "review" and "profile_services" in after.reasons
    back = verdict(tracker.observe(events=[profile(SCAMMER, "Ann", "cats again", T0 + 2 * MINUTE)]), SCAMMER)
    assert back.action == "none"
    assert tracker.verdicts_of([SCAMMER])[SCAMMER] == back


def test_a_business_with_a_whatsapp_number_alone_is_not_flagged(tracker: AccountTracker) -> None:
    seasoned(tracker, HELPER)
    shop = "Bakery in Lisbon. Orders on WhatsApp +351 912 345 678"
    v = verdict(tracker.observe(events=[profile(HELPER, "Pastelaria Ana", shop)]), HELPER)
    assert {"profile_contact", "profile_phone"} == set(v.reasons) and v.action == "none"


def test_impersonation_needs_the_name_and_a_handle_that_is_not_theirs(tracker: AccountTracker) -> None:
    fake, real = "did:plc:fakemm00000000000000000", "did:plc:realmm00000000000000000"
    for did in (fake, real):
        seasoned(tracker, did)
    tracker.observe(events=[identity(fake, "mm-help-desk.bsky.social", T0 - 19 * DAY)])
    tracker.observe(events=[identity(real, "support.metamask.io", T0 - 19 * DAY)])
    v = verdict(tracker.observe(events=[profile(fake, "MetaMask Support ✅", "We help")]), fake)
    assert "impersonation:metamask" in v.reasons and v.action == "review"
    assert verdict(tracker.observe(events=[profile(real, "MetaMask Support", "")]), real).reasons == ()
    # Lookalike letters fold like the plain spelling; a name that only mentions a brand does not match.
    lookalike = verdict(tracker.observe(events=[profile(fake, "Меtаmаsk", "", T0 + 1)]), fake)
    assert "impersonation:metamask" in lookalike.reasons
    fan = verdict(tracker.observe(events=[profile(HELPER, "Jane on Bluesky", "")]), HELPER)
    assert not any(r.startswith("impersonation") for r in fan.reasons)


def test_reply_flood_of_one_bland_text_from_a_new_account(tracker: AccountTracker) -> None:
    """A flood alone stays below review (an honest desk new to the stream looks the same);
    with a profile naming a contact route it is a scam account's flood."""
    posts = [
        reply(SCAMMER, f"did:plc:victim{i:020d}", "hi, check my profile", T0 + i * MINUTE, i)
        for i in range(20)
    ]
    v = verdict(tracker.observe(posts=posts), SCAMMER)
    assert "reply_flood:20" in v.reasons and "repeated_text:20" in v.reasons and "new_account" in v.reasons
    assert v.action == "none"
    bland = profile(SCAMMER, "Jo", "just vibes", T0 + 20 * MINUTE)
    assert verdict(tracker.observe(events=[bland]), SCAMMER).action == "none"
    dm = profile(SCAMMER, "Jo", "DM me on telegram", T0 + 21 * MINUTE)
    assert verdict(tracker.observe(events=[dm]), SCAMMER).action == "review"


def test_replies_outside_the_window_do_not_count(tracker: AccountTracker) -> None:
    window = int(tracker.spec.window_s * 1_000_000)
    spread = window // 10
    posts = [
        reply(SCAMMER, f"did:plc:victim{i:020d}", f"hello number {i}", T0 + i * spread, i) for i in range(30)
    ]
    assert not any(
        r.startswith("reply_flood") for r in verdict(tracker.observe(posts=posts), SCAMMER).reasons
    )


def test_busy_benign_repliers_stay_unflagged(tracker: AccountTracker) -> None:
    """A seasoned support account answering 40 people with one template, and a friendly
    person answering 40 people in their own words, fire flood signals but stay below review."""
    seasoned(tracker, HELPER)
    friendly = "did:plc:friendly00000000000000000"
    seasoned(tracker, friendly)
    tracker.observe(events=[profile(HELPER, "Acme Support", "Official help for Acme. Mon-Fri 9-17")])
    template = "Sorry to hear that! Please send us a DM with your order number and we will look into it."
    support = [
        reply(HELPER, f"did:plc:customer{i:018d}", template, T0 + i * 30_000_000, i) for i in range(40)
    ]
    chatty = [
        reply(
            friendly,
            f"did:plc:pal{i:023d}",
            f"haha yes, {i} is exactly what I thought too",
            T0 + i * MINUTE,
            i,
        )
        for i in range(40)
    ]
    verdicts = tracker.observe(posts=support + chatty)
    assert {"reply_flood:40", "repeated_text:40"} <= set(verdict(verdicts, HELPER).reasons)
    assert verdict(verdicts, HELPER).action == "none"
    assert verdict(verdicts, friendly).action == "none"


def test_follow_burst_and_handle_changes(tracker: AccountTracker) -> None:
    follows = [follow(SCAMMER, f"did:plc:target{i:020d}", T0 + i * 500_000) for i in range(60)]
    v = verdict(tracker.observe(events=follows), SCAMMER)
    assert "follow_burst:60" in v.reasons and v.action == "review"
    slow = [follow(HELPER, f"did:plc:target{i:020d}", T0 + i * 20_000_000) for i in range(60)]
    seasoned(tracker, HELPER)
    # Follows below the bar cannot raise a verdict: the account is not even re-judged.
    assert all(v.did != HELPER for v in tracker.observe(events=slow))
    assert tracker.verdicts_of([HELPER])[HELPER].action == "none"
    handles = [identity(SCAMMER, f"name{i}.bsky.social", T0 + DAY + i) for i in range(3)]
    assert "handle_changes:2" in verdict(tracker.observe(events=handles), SCAMMER).reasons


class _ReadKeys(MemoryStateStore):
    """Remembers the member-set keys each `get_members` call asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[str]] = []

    def get_members(self, keys, ttl_s=None):  # type: ignore[no-untyped-def]
        self.reads.append(list(keys))
        return super().get_members(keys, ttl_s)


def test_what_lasts_of_an_account_is_one_record_read_once_per_judged_account() -> None:
    """First sighting, handles, profiles and status are members of one set per account
    (`acct:record:<did>`): judging two accounts reads two sets (one DynamoDB item each, not
    four), and the latest handle, profile and status win."""
    store = _ReadKeys()
    policy = load_default_policy()
    tracker = AccountTracker(policy.spec, store, policy.version)
    seasoned(tracker, HELPER)
    text = "account recovery, whatsapp +1 555 201 3344"
    off = normalize_account_event(
        {"did": SCAMMER, "time_us": T0 + 3 * MINUTE, "kind": "account", "account": {"active": False}}
    ).event
    on = normalize_account_event(
        {"did": SCAMMER, "time_us": T0 + 4 * MINUTE, "kind": "account", "account": {"active": True}}
    ).event
    assert off is not None and on is not None
    events = [
        profile(SCAMMER, "Recovery", "hello", T0),
        profile(SCAMMER, "Recovery", text, T0 + 2 * MINUTE),  # the latest profile wins
        identity(SCAMMER, "a.bsky.social", T0),
        identity(SCAMMER, "b.bsky.social", T0 + MINUTE),
        on,
        off,  # events out of order: the latest status (active) wins
        identity(HELPER, "helper.bsky.social", T0 + MINUTE),
    ]
    store.reads.clear()
    verdicts = tracker.observe(events=events)
    records = [k for keys in store.reads for k in keys if not k.startswith(DIRECTORY_PREFIX)]
    assert sorted(records) == sorted([f"acct:record:{SCAMMER}", f"acct:record:{HELPER}"])
    v = verdict(verdicts, SCAMMER)
    assert (v.handle, v.signals["handle_changes"], v.signals["active"]) == ("b.bsky.social", 1, True)
    assert v.signals["profile_contact"] and v.action == "label"
    helper = verdict(verdicts, HELPER)
    assert helper.handle == "helper.bsky.social" and helper.signals["age_s"] >= 20 * 86_400


def test_a_batch_seen_twice_counts_nothing_twice(tracker: AccountTracker) -> None:
    posts = [reply(SCAMMER, f"did:plc:victim{i:020d}", "hi, check my profile", T0 + i, i) for i in range(8)]
    first = verdict(tracker.observe(posts=posts), SCAMMER)
    assert verdict(tracker.observe(posts=posts), SCAMMER).reasons == first.reasons


def test_deactivated_account_needs_no_action(tracker: AccountTracker) -> None:
    text = "account recovery, whatsapp +1 555 201 3344"
    assert verdict(tracker.observe(events=[profile(SCAMMER, "R", text)]), SCAMMER).action == "label"
    off = normalize_account_event(
        {
            "did": SCAMMER,
            "time_us": T0 + 1,
            "kind": "account",
            "account": {"active": False, "status": "takendown"},
        }
    ).event
    assert off is not None
    assert verdict(tracker.observe(events=[off]), SCAMMER).action == "none"


def test_counts_are_shared_through_a_sqlite_store_across_trackers(tmp_path: Path) -> None:
    """Two shards' trackers on one store see one account's replies together."""
    policy = load_default_policy()
    path = tmp_path / "state.db"
    a = AccountTracker(policy.spec, SqliteStateStore(path))
    b = AccountTracker(policy.spec, SqliteStateStore(path))
    posts = [
        reply(SCAMMER, f"did:plc:victim{i:020d}", f"text {i} here ok", T0 + i * MINUTE, i) for i in range(16)
    ]
    a.observe(posts=posts[:8])
    v = verdict(b.observe(posts=posts[8:]), SCAMMER)
    assert "reply_flood:16" in v.reasons


def test_terms_match_in_a_profile_with_emoji_or_accents(tracker: AccountTracker) -> None:
    """Text with any non-ASCII character is read as its skeleton (`m` -> `rn`); terms still match."""
    seasoned(tracker, SCAMMER)
    text = "🚀 Crypto investment manager, café owner 💰 guaranteed profit"
    v = verdict(tracker.observe(events=[profile(SCAMMER, "Max 💎", text)]), SCAMMER)
    assert "profile_services" in v.reasons


def test_synth_capture_scam_accounts_caught_and_honest_busy_accounts_not(tracker: AccountTracker) -> None:
    from fraud_pipeline.accounts.synth import SCAM_KINDS, synth_accounts
    from fraud_pipeline.ingest.normalize import decode_event, normalize

    capture = synth_accounts(honest=200, support_desks=5, friendly=8, scams_per_kind=10)
    assert set(capture.labels.values()) == {"", *SCAM_KINDS}
    flagged: set[str] = set()
    for start in range(0, len(capture.events), 500):
        posts, events = [], []
        for line in capture.events[start : start + 500]:
            post = normalize(line).post
            event = normalize_account_event(decode_event(line)).event
            assert (post is None) != (event is None), line
            if post is not None:
                posts.append(post)
            elif event is not None:
                events.append(event)
        flagged |= {v.did for v in tracker.observe(posts, events) if v.action != "none"}
    scams = [d for d, kind in capture.labels.items() if kind]
    assert len(flagged & set(scams)) / len(scams) >= 0.9
    assert flagged <= set(scams)


# -- account evidence in the posts' verdicts -----------------------------------------------


def test_a_flagged_accounts_bland_reply_is_not_bland() -> None:
    """The post scorer carries the author's account verdict: the same bland reply is flagged
    from a recovery scammer (profile seen by the account tracker on the shared store) and not
    from a seasoned account that never announced anything."""
    from fraud_pipeline.policy.loader import load_policy
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from tests.policy_fixtures import fixed_thresholds
    from tests.scoring_fixtures import KeywordScorer

    policy = load_policy(fixed_thresholds())
    store = MemoryStateStore()
    scorer = PostScorer(KeywordScorer(), policy=policy, behaviour_state=store, quota_state=store)
    accounts = AccountTracker(policy.spec, store, policy.version)
    seasoned(accounts, HELPER)
    text = "Account recovery expert, hacked? WhatsApp +1 (555) 201-3344"
    assert verdict(accounts.observe(events=[profile(SCAMMER, "Rec", text)]), SCAMMER).action == "label"

    bland = "hi, check my profile"
    tagged, _ = scorer.score(
        [reply(SCAMMER, HELPER, bland, T0 + MINUTE, 1), reply(HELPER, SCAMMER, bland, T0 + MINUTE, 2)]
    )
    by_did = {t.did: t for t in tagged}
    assert by_did[SCAMMER].is_fraud and "flagged_account" in by_did[SCAMMER].rule_hits
    assert "scam-account" in by_did[SCAMMER].labels
    assert not by_did[HELPER].is_fraud and by_did[HELPER].rule_hits == []


def test_post_scorer_reply_flood_flags_the_account_then_its_posts() -> None:
    from fraud_pipeline.policy.loader import load_policy
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from tests.policy_fixtures import fixed_thresholds
    from tests.scoring_fixtures import KeywordScorer

    policy = load_policy(fixed_thresholds())
    store = MemoryStateStore()
    scorer = PostScorer(KeywordScorer(), policy=policy, behaviour_state=store)
    AccountTracker(policy.spec, store).observe(events=[profile(SCAMMER, "Jo", "DM me on telegram", T0 - 1)])
    posts = [
        reply(SCAMMER, f"did:plc:victim{i:020d}", "hi, check my profile", T0 + i * MINUTE, i)
        for i in range(30)
    ]
    tagged = [t for start in range(0, 30, 3) for t in scorer.score(posts[start : start + 3])[0]]
    flagged = [t.is_fraud for t in tagged if t.did == SCAMMER]
    # A profile naming a contact route is not enough alone; once the flood is visible the
    # account is flagged, and so are its bland replies.
    assert not flagged[0] and all(flagged[-10:])


# -- through the streams -------------------------------------------------------------------


def test_ingest_puts_account_events_on_the_stream_and_counts_everything() -> None:
    from fraud_pipeline.accounts.events import account_event_from_json
    from fraud_pipeline.ingest.pipeline import IngestStats, run_ingest
    from fraud_pipeline.ingest.producer import Producer
    from tests.ingest_fixtures import MemoryStream

    raw = [
        commit(SCAMMER, "app.bsky.feed.post", {"text": "hello there"}, rkey="p1"),
        commit(SCAMMER, "app.bsky.actor.profile", {"displayName": "A", "description": "x" * 100_000}),
        commit(SCAMMER, "app.bsky.graph.follow", {"subject": HELPER}, rkey="f1"),
        {"did": SCAMMER, "time_us": T0, "kind": "identity", "identity": {"handle": "a.bsky.social"}},
        {"did": SCAMMER, "time_us": T0, "kind": "account", "account": {"active": True}},
        commit(SCAMMER, "app.bsky.feed.like", {"subject": {}}, rkey="l1"),
        commit(SCAMMER, "app.bsky.graph.follow", {"subject": 12}, rkey="f2"),
        commit(SCAMMER, "app.bsky.actor.profile", "not a record"),
    ]
    stream = MemoryStream()
    stream.create_stream("s", 1)
    producer = Producer(stream, "s", linger_s=0.01)
    sunk: list[tuple[bytes, str]] = []
    stats = run_ingest(
        [orjson.dumps(e) for e in raw],
        producer,
        IngestStats(),
        on_malformed=lambda data, why: sunk.append((data, why)),
        accounts=True,
    )
    producer.close()
    assert stats.posts == 1
    assert stats.account_events == {"profile": 1, "follow": 1, "identity": 1, "account": 1}
    assert stats.skipped == {"other_collection": 1}
    assert stats.malformed_by_reason == {"account:bad_follow_subject": 1, "account:missing_record": 1}
    assert [why for _, why in sunk] == ["account:bad_follow_subject", "account:missing_record"]
    assert stats.truncated == 1 and stats.put == 5
    payloads = [r.data for r in stream.records("s")]
    kinds = [e.kind for e in map(account_event_from_json, payloads) if e is not None]
    assert sorted(kinds) == ["account", "follow", "identity", "profile"]
    # Without the switch, account events are skipped and counted as before.
    quiet = run_ingest([orjson.dumps(e) for e in raw[:5]], Producer(stream, "s", linger_s=0.01))
    assert (
        quiet.skipped == {"other_collection": 2, "identity": 1, "account": 1} and quiet.account_events == {}
    )


def test_scoring_core_takes_account_events_beside_posts(local_settings: Any) -> None:
    """A profile and a bland reply in one batch: the event counts toward the account (no tagged
    record of its own, no error), the reply carries the account's verdict, and the account's
    changed verdict follows as an account record; a bad account record is an error."""
    from fraud_pipeline.lake.errors import read_errors
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.policy.loader import load_policy
    from fraud_pipeline.scoring.handler import InputRecord, ScoringRuntime
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from fraud_pipeline.streams import open_stream
    from tests.policy_fixtures import fixed_thresholds
    from tests.scoring_fixtures import KeywordScorer, RecordingMetrics

    stream = open_stream(local_settings)
    stream.create_stream(local_settings.tagged_stream, 1)
    scorer = PostScorer(KeywordScorer(), policy=load_policy(fixed_thresholds()))
    runtime = ScoringRuntime(
        local_settings, stream, ObjectStore.from_settings(local_settings), RecordingMetrics(), scorer
    )
    scam = profile(SCAMMER, "Rec", "Account recovery expert, WhatsApp +1 (555) 201-3344")
    bad = {"kind": "follow", "did": "not-a-did", "time_us": T0}
    records = [
        InputRecord("1", scam.to_json()),
        InputRecord("2", reply(SCAMMER, HELPER, "hi, check my profile", T0 + MINUTE, 1).to_json()),
        InputRecord("3", orjson.dumps(bad)),
    ]
    assert runtime.score_batch(records) == []
    stats = runtime.stats
    assert (stats.account_events, stats.undecodable, stats.tagged, stats.account_records) == (1, 1, 1, 1)
    assert stats.verdict_updates == 0
    reader = stream.shard_reader(
        local_settings.tagged_stream, stream.describe(local_settings.tagged_stream).shard_ids[0], None
    )
    tagged, account = [orjson.loads(r.data) for r in reader.read(10)]
    assert tagged["is_fraud"] and "flagged_account" in tagged["rule_hits"]
    assert (account["operation"], account["uri"], account["did"]) == ("account", SCAMMER, SCAMMER)
    assert account["action"] == "label" and account["labels"] == ["scam-account"]
    assert {"profile_contact", "profile_phone", "profile_services"} <= set(account["rule_hits"])
    signals = orjson.loads(account["account_signals"])
    assert signals["profile_contact"] and signals["previous_action"] is None
    errors = read_errors(ObjectStore.from_settings(local_settings), local_settings.errors_prefix)
    assert [e["errorMessage"] for e in errors] == ["account event field 'did' must be a DID"]


def test_ingest_command_with_accounts_replays_and_asks_jetstream_for_them(
    local_settings: Any, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from fraud_pipeline.accounts.events import account_event_from_json
    from fraud_pipeline.accounts.synth import synth_accounts
    from fraud_pipeline.cli import main
    from fraud_pipeline.provision import provision
    from fraud_pipeline.streams import open_stream
    from tests.test_jetstream import FakeJetstream

    provision(local_settings)
    capture = synth_accounts(honest=20, support_desks=1, friendly=1, scams_per_kind=2)
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(b"\n".join(capture.events) + b"\n")
    home = ["--home", str(local_settings.home)]
    result = CliRunner().invoke(
        main, ["ingest", "--file", str(path), "--accounts", *home], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output[result.output.index("{") :])
    kinds = summary["account_events"]
    assert (
        sum(kinds.values()) + summary["posts"]
        == summary["events_read"]
        == len(capture.events)
        == summary["put"]
    )
    stream = open_stream(local_settings)
    on_stream = 0
    for shard in stream.describe(local_settings.untagged_stream).shard_ids:
        reader = stream.shard_reader(local_settings.untagged_stream, shard, None)
        while records := reader.read(10_000):
            on_stream += sum(account_event_from_json(r.data) is not None for r in records)
    assert on_stream == sum(kinds.values())

    server = FakeJetstream()
    try:
        args = [
            "ingest",
            "--source",
            "jetstream",
            "--url",
            server.url,
            "--max-events",
            "3",
            "--accounts",
            *home,
        ]
        assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    finally:
        server.close()
    assert server.requests[0]["wantedCollections"] == [
        "app.bsky.feed.post",
        "app.bsky.actor.profile",
        "app.bsky.graph.follow",
    ]


# -- account records: the lake's accounts table and the labeler's input -------------------


def test_a_verdict_is_marked_changed_only_when_its_action_or_signals_change(tracker: AccountTracker) -> None:
    seasoned(tracker, SCAMMER)
    first = verdict(tracker.observe(events=[profile(SCAMMER, "Ann", "I like cats", T0)]), SCAMMER)
    assert first.action == "none" and not first.changed  # cleared and never flagged: no record
    scam = profile(SCAMMER, "Ann", "Account recovery expert, WhatsApp +1 (555) 201-3344", T0 + MINUTE)
    flagged = verdict(tracker.observe(events=[scam]), SCAMMER)
    assert flagged.changed and flagged.action == "review" and flagged.previous_action == "none"
    # The same batch again (a retried stream batch): changed again, so its record is not lost.
    again = verdict(tracker.observe(events=[scam]), SCAMMER)
    assert again.changed and again.action == "review"
    # A later event that changes nothing the verdict is made of: no record.
    same = profile(SCAMMER, "Ann", "Account recovery expert, WhatsApp +1 (555) 201-3344", T0 + 2 * MINUTE)
    steady = verdict(tracker.observe(events=[same]), SCAMMER)
    assert not steady.changed and steady.previous_action == "review"
    cleared = verdict(tracker.observe(events=[profile(SCAMMER, "Ann", "cats", T0 + 3 * MINUTE)]), SCAMMER)
    assert cleared.changed and cleared.action == "none" and cleared.previous_action == "review"
    assert cleared.signals["profile_services"] is False and cleared.signals["age_s"] > 86_400


class ProfileAwareScorer:
    """A stand-in model that reads 'guaranteed' as a scam (0.97), anything else as benign."""

    version = "profile-test"
    threshold = 0.5

    def __init__(self) -> None:
        self.texts: list[str] = []

    def score(self, texts: list[str]) -> list[float]:
        self.texts.extend(texts)
        return [0.97 if "guaranteed" in t.lower() else 0.02 for t in texts]


def test_profile_text_is_scored_by_the_text_model_and_a_profile_update_changes_the_verdict() -> None:
    """The profile (display name + description) goes through the text model in one call per
    batch; a model-read scam profile fires `profile_text`; updating the profile changes the
    verdict, and each change is an account record on the scorer's output."""
    from fraud_pipeline.policy.loader import load_policy
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from tests.policy_fixtures import fixed_thresholds

    policy = load_policy(fixed_thresholds())
    store = MemoryStateStore()
    model = ProfileAwareScorer()
    scorer = PostScorer(model, policy=policy, behaviour_state=store, quota_state=store)
    seasoned(AccountTracker(policy.spec, store, policy.version), SCAMMER)
    # No rule term in it: only the model reads it as a scam. With a contact route it reaches review.
    pitch = profile(SCAMMER, "Max", "Guaranteed daily income, ask me on telegram", T0)
    out, counts = scorer.score([], [pitch])
    (record,) = out
    assert model.texts == ["Max\nGuaranteed daily income, ask me on telegram"]
    assert record.operation == "account" and record.uri == SCAMMER and record.fraud_text_likelihood == 0.97
    assert {"profile_text", "profile_contact"} <= set(record.rule_hits) and record.action == "review"
    assert counts.account_records == 1
    honest = profile(SCAMMER, "Max", "ask me on telegram about my cat", T0 + MINUTE)
    (cleared,) = scorer.score([], [honest])[0]
    assert cleared.action == "none" and "profile_text" not in cleared.rule_hits
    assert orjson.loads(cleared.account_signals or "{}")["previous_action"] == "review"
    # Nothing changed: no record.
    assert (
        scorer.score([], [profile(SCAMMER, "Max", "ask me on telegram about my cat", T0 + 2 * MINUTE)])[0]
        == []
    )


def test_delivery_lands_account_records_in_the_accounts_prefix(local_settings: Any) -> None:
    import pyarrow.parquet as pq

    from fraud_pipeline.accounts.lake_table import account_record
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.records import TAGGED_ARROW_SCHEMA
    from fraud_pipeline.state import open_state
    from fraud_pipeline.streams import PutEntry, open_stream
    from fraud_pipeline.workers.delivery import FirehoseDelivery

    stream = open_stream(local_settings)
    stream.create_stream(local_settings.tagged_stream, 1)
    verdict_ = AccountVerdict(
        SCAMMER, T0, 0.8, "label", ("profile_services", "reply_flood:20"), "x.bsky.social"
    )
    account = account_record(verdict_, T0 + 5, ["scam-account"])
    post = {"uri": "at://did:plc:a/app.bsky.feed.post/1", "time_utc": "2026-11-29T10:00:00.000000Z"}
    post |= {"did": "did:plc:a", "operation": "create", "text": "ok", "is_fraud": False}
    payloads = [
        account.to_json(),
        orjson.dumps(post),
        orjson.dumps(dict(orjson.loads(account.to_json()), fraud_score="x")),
    ]
    stream.put_records(local_settings.tagged_stream, [PutEntry("k", p) for p in payloads])
    objects = ObjectStore.from_settings(local_settings)
    delivery = FirehoseDelivery(local_settings, stream, open_state(local_settings), objects, buffer_seconds=0)
    delivery.poll_once()
    delivery.flush()
    assert (delivery.stats.rows_written, delivery.stats.account_rows_written) == (2, 1)
    assert delivery.stats.conversion_errors == 1  # a broken account record is an error, not a row
    (account_file,) = objects.list_objects(local_settings.accounts_prefix)
    (post_file,) = objects.list_objects(local_settings.posts_prefix)
    table = pq.read_table(objects.path(account_file.key), filesystem=objects.fs)
    assert table.schema.equals(TAGGED_ARROW_SCHEMA)
    row = table.to_pylist()[0]
    assert (row["did"], row["action"], row["labels"], row["rule_hits"]) == (
        SCAMMER,
        "label",
        ["scam-account"],
        ["profile_services", "reply_flood"],
    )
    assert orjson.loads(row["account_signals"])["handle"] == "x.bsky.social"
    assert pq.read_table(objects.path(post_file.key), filesystem=objects.fs).column(
        "operation"
    ).to_pylist() == ["create"]


def test_replay_with_accounts_lands_account_records_and_labels_dids(
    local_settings: Any, tmp_path: Path
) -> None:
    """The whole local path with account events: counts in equal counts out (posts' tagged
    records, verdict updates and account records are the lake's rows), the account records
    are the accounts table's rows, and the labels worker labels DIDs."""
    import pyarrow.dataset as ds
    from click.testing import CliRunner

    from fraud_pipeline.accounts.synth import synth_accounts
    from fraud_pipeline.cli import main
    from fraud_pipeline.labeler.store import open_label_store
    from fraud_pipeline.objects import ObjectStore

    capture = synth_accounts(honest=30, support_desks=2, friendly=2, scams_per_kind=3)
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(b"\n".join(capture.events) + b"\n")
    args = ["replay", str(path), "--until-drained", "--json", "--accounts", "--workers", "threads"]
    result = CliRunner().invoke(main, [*args, "--home", str(local_settings.home)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output[result.output.index("{") :])
    assert summary["account_records"] > 0
    assert summary["lake_rows"] == summary["tagged"] + summary["verdict_updates"] + summary["account_records"]
    objects = ObjectStore.from_settings(local_settings)
    table = ds.dataset(
        objects.path(local_settings.accounts_prefix), filesystem=objects.fs, format="parquet"
    ).to_table()
    assert table.num_rows == summary["account_records"]
    assert set(table.column("operation").to_pylist()) == {"account"}
    rows = table.select(["did", "action"]).to_pylist()
    flagged = {r["did"] for r in rows if r["action"] != "none"}
    assert flagged and flagged <= {d for d, kind in capture.labels.items() if kind}  # no honest account
    store = open_label_store(local_settings)
    try:
        labelled = {label.label.uri for label in store.after(0, 10_000) if label.label.uri.startswith("did:")}
    finally:
        store.close()
    labelled_dids = {r["did"] for r in rows if r["action"] == "label"}
    assert labelled_dids and labelled == labelled_dids
