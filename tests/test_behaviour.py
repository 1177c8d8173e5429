"""Behaviour counted once across shards, campaign evidence, benign repetition, re-labelling."""

from __future__ import annotations

import base64
import random
import zlib
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from fraud_pipeline.records import VERDICT_OPERATION, Post
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.scoring.signals import (
    BehaviorTracker,
    BehaviourParams,
    NearDuplicateSketch,
    PostSignals,
    _equal_bytes_needed,
    _event_times,
    fold_text,
)
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.base import Sighting, StateStore
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore
from tests.scoring_fixtures import KeywordScorer, make_post

T0 = 1_764_000_000_000_000
SCAM = "Hey everyone, I found a site with great tips for everyday life, have a look"


def _linked(
    index: int, text: str, time_us: int, domain: str = "tips-site.xyz", did: str | None = None
) -> Post:
    return make_post(
        index,
        f"{text} https://{domain}/a{index}",
        did=did,
        time_us=time_us - index * 1000,  # make_post adds index * 1000; keep the time given
        links=[f"https://{domain}/a{index}"],
        domains=[domain],
    )


def _mixed_stream(seed: int = 7) -> list[Post]:
    """Organic accounts (warmed up an hour earlier), a 40-account campaign and a viral link."""
    rng = random.Random(seed)
    organic = [f"did:plc:organic{i:016d}" for i in range(60)]
    posts: list[Post] = []
    for i, did in enumerate(organic):  # first seen an hour and a half before
        posts.append(make_post(i, "hello again", did=did, time_us=T0 - 5_400_000_000 - i * 1000))
    index = 1000
    for _ in range(40):  # the campaign: brand-new accounts, 4 minutes
        index += 1
        posts.append(_linked(index, SCAM, T0 + rng.randrange(240_000_000)))
    for k in range(30):  # benign repetition: a viral quote with the article's link, known accounts
        index += 1
        quote = "Be the change that you wish to see in the world, said someone wise once"
        posts.append(_linked(index, quote, T0 + rng.randrange(3_000_000_000), "news.example.com", organic[k]))
    for k in range(300):  # chatter
        index += 1
        posts.append(
            make_post(
                index,
                f"chatter {k} {rng.random()}",
                did=rng.choice(organic),
                time_us=T0 + rng.randrange(3_000_000_000) - index * 1000,
            )
        )
    return sorted(posts, key=lambda p: p.time_us)


def _shard_of(did: str, shards: int) -> int:
    return zlib.crc32(did.encode()) % shards


def _observe_sharded(
    posts: list[Post], shards: int, make_store: Callable[[int], StateStore], passes: int = 1
) -> dict[str, PostSignals]:
    """Each shard has its own tracker (as its own Lambda runtime) and batches of its posts;
    shards take turns over event-time chunks of 25 posts; only the store is shared (if
    `make_store` shares it). A second pass is the stream delivered again (at-least-once)."""
    trackers = [BehaviorTracker(make_store(s)) for s in range(shards)]
    out: dict[str, PostSignals] = {}
    for _ in range(passes):
        for start in range(0, len(posts), 25):
            chunk = posts[start : start + 25]
            for shard, tracker in enumerate(trackers):
                mine = [p for p in chunk if _shard_of(p.did, shards) == shard]
                for post, signals in zip(mine, tracker.observe_batch(mine), strict=True):
                    out[post.uri] = signals
    return out


def test_counts_are_equal_across_1_and_16_shards_sharing_only_the_store(local_settings: Settings) -> None:
    posts = _mixed_stream()
    one = _observe_sharded(
        posts, 1, lambda _: SqliteStateStore(local_settings.state_path.with_name("one.db"))
    )
    sixteen = _observe_sharded(
        posts, 16, lambda _: SqliteStateStore(local_settings.state_path.with_name("sixteen.db"))
    )
    campaign = [p.uri for p in posts if SCAM in p.text]
    quote = [p.uri for p in posts if "Be the change" in p.text]
    assert max(one[u].campaign_accounts for u in campaign) == 40
    assert max(one[u].near_duplicate_accounts for u in campaign) == 40
    assert max(sixteen[u].campaign_accounts for u in campaign) >= 39  # the last chunk was in flight
    # Per post, a shard can miss only what other shards were scoring at the same moment (one
    # chunk in flight); delivered again, every count is exactly the single tracker's.
    for uri, signals in one.items():
        assert 0 <= signals.campaign_accounts - sixteen[uri].campaign_accounts <= 25
    again = _observe_sharded(
        posts, 16, lambda _: SqliteStateStore(local_settings.state_path.with_name("sixteen.db"))
    )
    assert again == one
    assert max(again[u].campaign_accounts for u in quote) == max(one[u].campaign_accounts for u in quote) > 5
    assert sum(bool(s.campaign_id) for s in sixteen.values()) >= 25

    # What the per-shard trackers did before: each shard counted alone and never saw the campaign.
    private = _observe_sharded(posts, 16, lambda _: MemoryStateStore())
    assert max(private[u].campaign_accounts for u in campaign) < 10
    assert not any(private[u].campaign_id for u in campaign)


class _FirstReadsStore(MemoryStateStore):
    """A memory store that records which first-sighting keys are read."""

    def __init__(self) -> None:
        super().__init__()
        self.first_reads: list[str] = []

    def get_members(self, keys: Collection[str], ttl_s: int | None = None) -> dict[str, dict[str, str]]:
        self.first_reads += [key for key in keys if key.startswith("first:")]
        return super().get_members(keys, ttl_s)


def test_a_tracker_reads_an_accounts_first_sighting_until_it_has_read_it_once() -> None:
    """A stored first sighting never changes: once read it is remembered (what the tracker
    wrote itself is read back once: another shard may have written first), and newness is
    what a tracker with nothing remembered computes from the same store."""
    accounts = [f"did:plc:first{i:016d}" for i in range(20)]
    batches = [
        [
            make_post(b * 100 + i, "hello there", did=did, time_us=T0 + b * 300_000_000)
            for i, did in enumerate(accounts)
        ]
        for b in range(5)  # every 5 minutes (and a little more): new for 15 minutes
    ]
    store = _FirstReadsStore()
    tracker = BehaviorTracker(store)
    reads = []
    remembered = []
    for batch in batches:
        before = len(store.first_reads)
        remembered.append(tracker.observe_batch(batch))
        reads.append(len(store.first_reads) - before)
    assert reads == [20, 20, 0, 0, 0]
    fresh_store = MemoryStateStore()
    fresh = [BehaviorTracker(fresh_store).observe_batch(batch) for batch in batches]
    assert remembered == fresh
    assert [s[0].account_is_new for s in remembered] == [True, True, True, False, False]  # 15 min


def test_counts_are_as_of_event_time_not_batching() -> None:
    posts = _mixed_stream(seed=3)
    whole = dict(zip([p.uri for p in posts], BehaviorTracker().observe_batch(posts), strict=True))
    tracker = BehaviorTracker()
    one_by_one = {p.uri: tracker.observe(p) for p in posts}
    assert whole == one_by_one


def test_account_post_counts_are_the_posts_in_each_window_whichever_way_counted() -> None:
    """The batch's counts of each author's posts in the post's window (numpy, all posts at once)
    are the plain count over the author's times, and equal the one-by-one path that sets with
    foreign values, or a batch spanning more than the numpy keys hold, fall back to."""
    rng = random.Random(5)
    window_us = int(BehaviourParams.default().window_s * 1_000_000)
    authors = [f"did:plc:author{a:016d}" for a in range(6)]
    posts = sorted(
        (
            make_post(i, f"note {i}", did=rng.choice(authors), time_us=T0 + rng.randrange(0, 4 * window_us))
            for i in range(300)
        ),
        key=lambda p: p.time_us,
    )
    batches = [posts[i : i + 50] for i in range(0, len(posts), 50)]
    tracker = BehaviorTracker()
    fast = [s.account_posts_window for batch in batches for s in tracker.observe_batch(batch)]
    expected = [
        sum(1 for q in posts if q.did == p.did and p.time_us - window_us < q.time_us <= p.time_us)
        for p in posts
    ]
    assert fast == expected and max(fast) > 5
    # A foreign value in an author's set sends the batch down the one-by-one path: same counts.
    store = MemoryStateStore()
    bucket = posts[0].time_us // (2 * window_us)
    store.add_members([(f"acct:{posts[0].did}#{bucket}", "stray", "not-a-time")], ttl_s=3600)
    slow = [s.account_posts_window for batch in batches for s in BehaviorTracker(store).observe_batch(batch)]
    assert slow == expected
    # Times 300 days apart in one batch (a replay): one-by-one too.
    old = make_post(1000, "long ago", did=authors[0], time_us=T0 - 300 * 86_400_000_000)
    counts = [s.account_posts_window for s in BehaviorTracker().observe_batch([old, *posts[:50]])]
    assert counts == [1, *expected[:50]]


@pytest.mark.parametrize(
    "values",
    [
        ["1764000000000000", "1764000000000001", "1700000000000000"],  # µs event times
        ["0012", "9999"],  # leading zeros
        ["12", "3", "456"],  # the joined length fits one width, the values do not
        ["1234", "12345"],
        ["+123", " 12 ", "1_2"],  # what `int` also reads: not digits, so `int` decides
        ["\u0661\u0662\u0663", "123"],  # Arabic-Indic digits: `int` reads them
        ["9" * 18, "1" * 18],  # the widest that fits int64 in the digits pass
    ],
)
def test_stored_times_are_parsed_together_exactly_as_int_reads_them(values: list[str]) -> None:
    assert _event_times(values).tolist() == [int(v) for v in values]  # type: ignore[union-attr]


@pytest.mark.parametrize("values", [["12a4", "1234"], ["9" * 19], ["not-a-time"], ["1:2", "123"]])
def test_stored_values_that_are_not_times_send_the_batch_one_by_one(values: list[str]) -> None:
    assert _event_times(values) is None


def test_a_retried_batch_counts_nothing_twice() -> None:
    tracker = BehaviorTracker()
    posts = [_linked(i, SCAM, T0 + i * 1_000_000) for i in range(6)]
    first = tracker.observe_batch(posts)
    again = tracker.observe_batch(posts)
    assert [s.campaign_accounts for s in again] == [s.campaign_accounts for s in first] == [1, 2, 3, 4, 5, 6]
    assert all(s.account_posts_window == 1 for s in again)


def test_campaign_evidence_grows_with_accounts_newness_concentration_and_domain() -> None:
    def last(posts: list[Post], store: StateStore | None = None) -> PostSignals:
        return BehaviorTracker(store).observe_batch(posts)[-1]

    fast_new = last([_linked(i, SCAM, T0 + i * 5_000_000) for i in range(40)])
    few = last([_linked(i, SCAM, T0 + i * 5_000_000) for i in range(5)])
    slow = last([_linked(i, SCAM, T0 + i * 14_000_000) for i in range(40)])
    rotated = last([_linked(i, SCAM, T0 + i * 5_000_000, domain=f"tips{i}.xyz") for i in range(40)])
    store = MemoryStateStore()
    warm = BehaviorTracker(store)
    dids = [f"did:plc:known{i:014d}" for i in range(40)]
    warm.observe_batch([make_post(i, "gm", did=d, time_us=T0 - 7_200_000_000) for i, d in enumerate(dids)])
    known = last([_linked(i, SCAM, T0 + i * 5_000_000, did=d) for i, d in enumerate(dids)], store)

    assert fast_new.campaign_accounts == 40 and fast_new.campaign_new_accounts == 40
    assert fast_new.campaign_shared_domain and fast_new.campaign_span_s == pytest.approx(195.0)
    assert 0.85 < fast_new.campaign_evidence <= 1.0 and fast_new.campaign_id is not None
    assert few.campaign_evidence < fast_new.campaign_evidence and few.campaign_id is None
    assert slow.campaign_evidence < fast_new.campaign_evidence
    assert not rotated.campaign_shared_domain and rotated.campaign_evidence < fast_new.campaign_evidence
    assert known.campaign_new_accounts == 0 and known.campaign_evidence < 0.6 and known.campaign_id is None


def test_near_duplicate_wording_is_counted_across_accounts() -> None:
    rng = random.Random(1)
    words = ["great", "useful", "handy", "helpful"]
    places = ["site", "page", "spot"]
    posts = []
    for i in range(30):
        place, word = rng.choice(places), rng.choice(words)
        text = f"Hey everyone, I found a {place} with {word} tips for everyday life, have a look"
        posts.append(_linked(i, text, T0 + i * 6_000_000))
    signals = BehaviorTracker().observe_batch(posts)
    assert max(s.campaign_accounts for s in signals) < 10  # exact fingerprints are split by the wording
    assert signals[-1].near_duplicate_accounts >= 20
    assert signals[-1].campaign_id is not None and signals[-1].campaign_evidence >= 0.6


def test_batch_signatures_equal_datasketch_minhash() -> None:
    sketch = NearDuplicateSketch(BehaviourParams.default())
    texts = ["hey everyone i found a site", "one", "the quick brown fox jumps over the lazy dog again"]
    shingles = [sketch.shingles(t) for t in texts]
    ours = sketch.signatures(shingles)
    for row, items in zip(ours, shingles, strict=True):
        reference = MinHash(num_perm=32, seed=1, hashfunc=zlib.crc32)
        reference.update_batch(items)
        assert np.array_equal(row, reference.hashvalues)
    assert len(sketch.hashranges) == 16  # datasketch's optimum for Jaccard 0.2 with 32 permutations


@pytest.mark.parametrize("shingle_chars", [2, 4, 5, 16])
def test_a_batchs_signatures_from_text_equal_those_from_shingles(shingle_chars: int) -> None:
    """The table-driven crc32 of all shingles at once gives the very signatures of
    `signatures(shingles)` (and so of datasketch), whatever the shingle length and text."""
    params = replace(BehaviourParams.default(), shingle_chars=shingle_chars)
    sketch = NearDuplicateSketch(params)
    rng = random.Random(shingle_chars)
    alphabet = "abcdefghij klmnop0123 éü€漢🙂"
    texts = ["hey everyone i found a site with tips", "x" * shingle_chars, "0000 0000 0000 0000 0000"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(16, 120))) for _ in range(40)]
    assert np.array_equal(
        sketch.text_signatures(texts), sketch.signatures([sketch.shingles(t) for t in texts])
    )
    short = ["a", *texts[:3]]  # shorter than a shingle: one shingle of its own
    assert np.array_equal(
        sketch.text_signatures(short), sketch.signatures([sketch.shingles(t) for t in short])
    )


def test_a_batchs_band_keys_and_compact_signatures_equal_each_signatures() -> None:
    """`batch_keys` converts a whole batch's signatures at once: the same band keys and compact
    signatures as `band_keys` and `compact` of each row (an empty batch gives none)."""
    sketch = NearDuplicateSketch(BehaviourParams.default())
    texts = [f"claim your reward number {i} at the site now" for i in range(7)] + ["gm"]
    signatures = sketch.text_signatures(texts)
    assert sketch.batch_keys(signatures) == [
        (sketch.band_keys(row), sketch.compact(row)) for row in signatures
    ]
    assert sketch.batch_keys(signatures[:0]) == []


# A spun campaign: every account picks its own words in one template (thousands of variants),
# so two posts share only about a third of their 4-character shingles.
SPUN = (
    "{greet} folks, {verb} this {thing} full of {adj} advice for {topic}, {ask}",
    {
        "greet": ["Hello", "Hi there", "Hey", "Good day"],
        "verb": ["just found", "came upon", "ran into", "bookmarked"],
        "thing": ["blog", "guide", "resource", "webpage"],
        "adj": ["practical", "solid", "clever", "brilliant"],
        "topic": ["saving money", "daily budgeting", "your finances"],
        "ask": ["see for yourself", "give it a read", "dont miss it"],
    },
)


def _spun(rng: random.Random) -> str:
    template, words = SPUN
    return template.format(**{slot: rng.choice(options) for slot, options in words.items()})


def test_spun_wording_from_new_accounts_is_a_campaign_after_a_few_posts() -> None:
    """Each post of a spun campaign finds most earlier ones (LSH tuned for recall, verified)."""
    rng = random.Random(11)
    posts = [_linked(i, _spun(rng), T0 + i * 8_000_000) for i in range(25)]
    tracker = BehaviorTracker()
    signals = [tracker.observe_batch([post])[0] for post in posts]
    assert max(s.campaign_accounts for s in signals) < 5  # the exact fingerprint is split by the spin
    assert signals[-1].near_duplicate_accounts >= 15  # of 25 (bands tuned for 0.4, unverified, found 6)
    assert all(s.campaign_id is not None for s in signals[12:])


def test_a_band_candidate_that_is_not_a_near_duplicate_is_not_counted() -> None:
    """Bands tuned for recall also collide unrelated posts: the stored signature rejects them."""
    store = MemoryStateStore()
    tracker = BehaviorTracker(store)
    text = "Hey everyone, I found a site with great tips for everyday life, have a look"
    post = _linked(1, text, T0)
    sketch = tracker.sketch
    folded = fold_text(post.text)
    signature = sketch.signatures([sketch.shingles(folded)])[0]
    unrelated_text = fold_text("the quarterly report is due on friday, thanks all")
    other = sketch.signatures([sketch.shingles(unrelated_text)])[0]
    bucket = T0 // tracker.bucket_us
    stored = base64.urlsafe_b64encode(sketch.compact(other)).rstrip(b"=").decode()
    unrelated = f"{T0 - 1_000_000}|1|tips-site.xyz|3kabc|{stored}"  # time|new|domain|rkey|signature
    legacy = f"{T0 - 2_000_000}|1|tips-site.xyz|3kdef"  # written before sets carried signatures
    store.add_members(
        [Sighting(f"{band}#{bucket}", "did:plc:unrelated", unrelated) for band in sketch.band_keys(signature)]
        + [Sighting(f"{band}#{bucket}", "did:plc:legacy", legacy) for band in sketch.band_keys(signature)],
        ttl_s=3600,
    )
    assert sketch.similarity(sketch.compact(signature), sketch.compact(signature)) == 1.0
    assert sketch.similarity(sketch.compact(signature), sketch.compact(other)) < 0.25
    assert tracker.observe(post).near_duplicate_accounts == 2  # itself and the legacy member


def test_the_equal_bytes_bar_agrees_with_similarity_on_every_count() -> None:
    """Near-duplicate groups compare equal-byte counts with a bar derived from `similarity`:
    for every count of equal bytes and several bars, both say the same."""
    rng = random.Random(3)
    for n in (8, 32, 64):
        for bar in (0.05, 0.2, 0.2039, 0.5, 0.95):
            need = _equal_bytes_needed(n, bar)
            for equal in range(n + 1):
                a = bytes(rng.randrange(256) for _ in range(n))
                b = bytes(x if i < equal else (x + 1) % 256 for i, x in enumerate(a))
                assert (NearDuplicateSketch.similarity(a, b) >= bar) == (equal >= need), (n, bar, equal)


def test_near_duplicates_only_for_posts_with_a_link_when_the_policy_says_so() -> None:
    """`near_duplicate_links_only`: spun wording with only a mention joins no near-duplicate
    group (its exact text still joins the text group); with a link it does."""
    rng = random.Random(5)
    texts = [_spun(rng) for _ in range(8)]
    linked = [_linked(i, text, T0 + i * 8_000_000) for i, text in enumerate(texts)]
    mentioned = [
        make_post(
            i,
            f"{text} @someone.bsky.social",
            time_us=T0 + i * 8_000_000 - i * 1000,
            mentions=["did:plc:someone0000000000000"],
        )
        for i, text in enumerate(texts)
    ]
    assert all(post.mentions and not post.links for post in mentioned)
    for links_only in (False, True):
        params = replace(BehaviourParams.default(), near_duplicate_links_only=links_only)
        with_link = BehaviorTracker(params=params).observe_batch(linked)
        with_mention = BehaviorTracker(params=params).observe_batch(mentioned)
        assert with_link[-1].near_duplicate_accounts >= 4
        assert (with_mention[-1].near_duplicate_accounts == 0) is links_only
        assert with_mention[-1].campaign_accounts == with_link[-1].campaign_accounts


def test_benign_repetition_is_not_flagged() -> None:
    store = MemoryStateStore()
    scorer = PostScorer(KeywordScorer(), None, tracker=BehaviorTracker(store))
    known = [f"did:plc:known{i:014d}" for i in range(80)]
    scorer.score([make_post(i, "hi", did=d, time_us=T0 - 7_200_000_000) for i, d in enumerate(known)])
    rng = random.Random(5)
    posts = []
    for i, did in enumerate(known[:50]):  # a greeting and song lyrics, many accounts, minutes
        posts.append(
            make_post(
                100 + i,
                "good morning everyone, have a lovely day today!",
                did=did,
                time_us=T0 + i * 2_000_000,
            )
        )
        posts.append(
            make_post(
                200 + i,
                "is this the real life, is this just fantasy, caught in a landslide",
                did=did,
                time_us=T0 + i * 2_000_000 + 1,
            )
        )
    for i in range(40):  # brand-new accounts sharing a greeting: no link, no campaign
        posts.append(
            make_post(300 + i, "good morning everyone, have a lovely day today!", time_us=T0 + i * 3_000_000)
        )
    meme = ["bafkreimeme"]
    for i, did in enumerate(known[:60]):  # a meme image reused by known accounts, no link
        posts.append(
            make_post(
                400 + i,
                "lol",
                did=did,
                time_us=T0 + rng.randrange(600_000_000),
                media_cids=meme,
                media_paths=["https://cdn/meme"],
                media_kinds=["image"],
            )
        )
    for i, did in enumerate(known[:40]):  # a viral quote with the article's link, known accounts
        posts.append(
            _linked(
                500 + i,
                "Be the change you wish to see in the world, words to live by",
                T0 + rng.randrange(900_000_000),
                "news.example.com",
                did,
            )
        )
    posts.sort(key=lambda p: p.time_us)
    tagged, counts = scorer.score(posts)
    assert not [t.uri for t in tagged if t.is_fraud]
    assert counts.relabelled == 0


def test_campaign_crossing_relabels_earlier_posts_once() -> None:
    """The issue's case: one bland text with a link, 40 brand-new accounts, 4 minutes."""
    scorer = PostScorer(KeywordScorer(), None, tracker=BehaviorTracker())
    rng = random.Random(2)
    posts = sorted(
        (_linked(i, SCAM, T0 + rng.randrange(240_000_000)) for i in range(40)), key=lambda p: p.time_us
    )
    tagged: list = []
    for start in range(0, 40, 7):
        tagged.extend(scorer.score(posts[start : start + 7])[0])
    scored = [t for t in tagged if t.operation == "create"]
    updates = [t for t in tagged if t.operation == VERDICT_OPERATION]
    unflagged = {t.uri for t in scored if not t.is_fraud}
    assert 0 < len(unflagged) < 15
    assert {u.uri for u in updates} == unflagged  # every early post re-labelled, exactly once
    assert len(updates) == len(unflagged)
    assert all(
        u.is_fraud and "spam-campaign" in u.labels and u.rule_hits == ["campaign_relabel"] for u in updates
    )
    assert all(u.scored_at_us > min(t.scored_at_us for t in scored) for u in updates)


def test_the_bucket_before_is_read_only_when_the_window_reaches_into_it() -> None:
    """Buckets span two windows: a post late in its bucket reads one set per group, a post early
    in it two, and both count every account in their window (no more, no less)."""
    store = MemoryStateStore()
    tracker = BehaviorTracker(store)
    bucket_start = (T0 // tracker.bucket_us + 1) * tracker.bucket_us
    times = [bucket_start - 60_000_000 + i * 10_000_000 for i in range(12)]  # 6 before the boundary, 6 after
    posts = [_linked(i, SCAM, t) for i, t in enumerate(times)]
    read: list[set[str]] = []
    real_get = store.get_members

    def spy(keys: object, ttl_s: int | None = None) -> dict[str, dict[str, str]]:
        read.append(set(keys))  # type: ignore[call-overload]
        return real_get(keys, ttl_s)  # type: ignore[arg-type]

    store.get_members = spy  # type: ignore[method-assign]
    late = _linked(99, SCAM, bucket_start + tracker.bucket_us - 1_000_000)  # its window: this bucket
    signals = tracker.observe_batch([*posts, late])
    assert [s.campaign_accounts for s in signals[:-1]] == list(range(1, 13))
    assert signals[-1].campaign_accounts == 1  # the others are more than a window before it
    fp_keys = {key for key in read[-1] if key.startswith("fp:")}
    assert len(fp_keys) == 2  # the current bucket and, for the early posts, the one before
    # Late in the bucket before: one account key each; early in the new bucket: two; the last: one.
    assert sum(key.startswith("acct:") for key in read[-1]) == 6 + 6 * 2 + 1


def test_retune_rebuilds_the_sketch_only_when_its_parameters_change() -> None:
    tracker = BehaviorTracker()
    sketch = tracker.sketch
    assert tracker.sketch is sketch  # built once
    tracker.retune(replace(tracker.params, campaign_bar=0.7))
    assert tracker.sketch is sketch
    tracker.retune(replace(tracker.params, shingle_chars=5))
    assert tracker.sketch is not sketch and tracker.sketch.shingle_chars == 5


def _synth_posts(events: int, seed: int) -> list[Post]:
    """Posts of a synthetic capture (campaigns of every shape, benign repetition, organic)."""
    import orjson

    from fraud_pipeline.ingest.normalize import normalize
    from fraud_pipeline.ingest.synth import Synthesizer, load_texts

    labelled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    synth = Synthesizer(load_texts([labelled]), seed=seed, rate=20.0, campaign_every=200, benign_every=400)
    posts = [normalize(orjson.dumps(event)).post for event, _ in synth.events(events)]
    return [p for p in posts if p is not None and p.operation != "delete"]


@pytest.mark.parametrize("make_store", [MemoryStateStore, "sqlite"])
def test_posts_alone_in_their_groups_get_the_signals_the_groups_would_give(
    make_store: Callable[[], StateStore] | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shortcut for posts that are alone in every group they join (`_alone`) gives each
    exactly the signals working its groups out gives, on a capture where most posts that join
    groups are alone and the others are campaigns, near-duplicates and reused images; two
    trackers on one store, so some sets hold another shard's sightings."""
    posts = _synth_posts(4000, seed=4)

    def observe(shortcut: bool, name: str) -> tuple[list[PostSignals], int]:
        store = MemoryStateStore() if make_store is MemoryStateStore else SqliteStateStore(tmp_path / name)
        trackers = [BehaviorTracker(store), BehaviorTracker(store)]
        taken = 0
        original = BehaviorTracker._alone

        def alone(*args: object) -> bool:
            nonlocal taken
            found = shortcut and original(*args)  # type: ignore[arg-type]
            taken += found
            return found

        monkeypatch.setattr(BehaviorTracker, "_alone", staticmethod(alone))
        out: list[PostSignals] = []
        for n, start in enumerate(range(0, len(posts), 200)):
            out += trackers[n % 2].observe_batch(posts[start : start + 200])
        return out, taken

    fast, taken = observe(True, "fast.db")
    full, none_taken = observe(False, "full.db")
    assert none_taken == 0 and taken > 100  # most posts that join groups are alone in them
    # ... and the others are in campaigns, near-duplicate groups and reused images
    assert sum(1 for s in full if s.campaign_id) >= 10 and any(s.relabel for s in full)
    assert sum(1 for s in full if s.near_duplicate_accounts > 1) >= 10
    assert fast == full


def test_a_post_alone_in_its_bucket_counts_the_bucket_before_in_its_window() -> None:
    """A post whose current bucket holds only itself is not alone when the bucket before holds
    another account's post of the same text, image or wording within its window."""
    tracker = BehaviorTracker(MemoryStateStore())
    bucket_start = (T0 // tracker.bucket_us + 1) * tracker.bucket_us
    media = {"media_cids": ["bafkreisame"], "media_paths": ["https://cdn/a"], "media_kinds": ["image"]}
    before = replace(_linked(1, SCAM, bucket_start - 30_000_000), **media)
    after = replace(_linked(2, SCAM, bucket_start + 30_000_000), **media)
    assert tracker.observe_batch([before])[0].campaign_accounts == 1
    signals = tracker.observe_batch([after])[0]
    counted = (signals.campaign_accounts, signals.near_duplicate_accounts, signals.media_reuse_accounts)
    assert counted == (2, 2, 2)
