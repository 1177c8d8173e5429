"""The behaviour tracker's session-11 fast paths held to what they replaced.

`ReferenceTracker` is the tracker with session 10's `_near_group`, `_evidence` and `_crossing`
(the transposed columns and `Counter`, the set of (account, value) pairs over every band, the
(time, did, sighting) triples): every post's `PostSignals` must be the same on captures with
campaigns, near-duplicates, reused images and re-labelling, two trackers sharing one store."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import pytest

from fraud_pipeline.records import POST_COLLECTION, Post
from fraud_pipeline.scoring.signals import (
    _DECODED,
    BehaviorTracker,
    BehaviourParams,
    NearDuplicateSketch,
    PostSignals,
    RelabelTarget,
    _agrees,
    _BatchSets,
    _decode_member,
    _equal_bytes_needed,
    _event_times,
    _Group,
    _Sighted,
)
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore
from tests.test_behaviour import _synth_posts


class ReferenceTracker(BehaviorTracker):
    """Session 10's group code, unchanged (the reference of the fast paths)."""

    def _near_group(
        self, lsh_keys: list[list[str]], sets: _BatchSets, post: Post, sketch: bytes = b""
    ) -> _Group:
        low, high = post.time_us - self.window_us, post.time_us
        raw = sets.sets
        pairs: set[tuple[str, str]] = set()
        last: dict[str, str] | None = None
        for span_keys in lsh_keys:
            for key in span_keys:
                values = raw.get(key)
                if values and values is not last and values != last:
                    pairs.update(values.items())
                    last = values
        merged: dict[str, _Sighted] = {}
        for did, value in pairs:
            m = _DECODED.get(value) or _decode_member(value)
            if m is None or not low < m[0] <= high:
                continue
            known = merged.get(did)
            if known is None or m[0] < known[0] or (m[0] == known[0] and m < known):
                merged[did] = m
        group = _Group(lsh_keys[0][0], merged, namer=lambda: self._fullest_band(lsh_keys, sets, post))
        if not merged or not sketch:
            return group
        n = len(sketch)
        need = _equal_bytes_needed(n, self.params.near_duplicate_jaccard)
        own = int.from_bytes(sketch, "little")
        group.members = {
            did: m
            for did, m in merged.items()
            if m[4] == sketch
            or not m[4]
            or (
                len(m[4]) == n
                and (own ^ int.from_bytes(m[4], "little")).to_bytes(n, "little").count(0) >= need
            )
        }
        return group

    def _evidence(self, members: Collection[_Sighted]) -> tuple[float, int, float, bool]:
        return reference_evidence(self.params, members)

    def _crossing(self, post: Post, group: _Group, relabel: dict[str, RelabelTarget]) -> None:
        mine = (post.time_us, post.did)
        earlier = [(m[0], did, m) for did, m in group.members.items() if (m[0], did) < mine]
        before = self._evidence([m for _, _, m in earlier])[0]
        if before >= self.params.campaign_bar:
            return
        for _, did, m in sorted(earlier):
            uri = f"at://{did}/{POST_COLLECTION}/{m[3]}"
            relabel.setdefault(uri, RelabelTarget(uri, did, m[3], m[0]))


def reference_evidence(p: BehaviourParams, members: Collection[_Sighted]) -> tuple[float, int, float, bool]:
    if not members:
        return 0.0, 0, 0.0, False
    times, news, domains, _, _ = zip(*members, strict=True)
    n = len(times)
    new = sum(news)
    if n < p.min_accounts:
        return 0.0, new, 0.0, False
    span_s = (max(times) - min(times)) / 1_000_000
    linked = [domain for domain in domains if domain]
    top = len(linked) if len(set(linked)) <= 1 else max(Counter(linked).values())
    shared = top >= p.min_accounts and top >= p.shared_domain_share * n
    size = 1 - math.exp(-(n - p.min_accounts + 1) / p.size_scale)
    concentration = max(0.0, 1 - span_s / p.window_s)
    mix = (
        p.weight_base
        + p.weight_new * new / n
        + p.weight_concentration * concentration
        + p.weight_shared_domain * shared
    )
    return size * mix, new, span_s, shared


def _observe_all(
    tracker_type: type[BehaviorTracker], posts: list[Post], store: StateStore, batch: int
) -> list[PostSignals]:
    trackers = [tracker_type(store), tracker_type(store)]
    out: list[PostSignals] = []
    for n, start in enumerate(range(0, len(posts), batch)):
        out += trackers[n % 2].observe_batch(posts[start : start + batch])
    return out


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_group_signals_are_those_of_the_session_10_code(store_kind: str, tmp_path: Path) -> None:
    """Every post's signals as the reference gives them, on a synthetic capture with campaigns,
    near-duplicates, reused images and re-labelling (two trackers on one store, batches of 200)."""
    posts = _synth_posts(6000, seed=11)

    def store(name: str) -> StateStore:
        return MemoryStateStore() if store_kind == "memory" else SqliteStateStore(tmp_path / name)

    fast = _observe_all(BehaviorTracker, posts, store("fast.db"), 200)
    _DECODED.clear()  # each path decodes its own values
    reference = _observe_all(ReferenceTracker, posts, store("reference.db"), 200)
    assert sum(1 for s in reference if s.campaign_id) >= 10 and sum(len(s.relabel) for s in reference) >= 5
    assert sum(1 for s in reference if s.near_duplicate_accounts > 1) >= 10
    assert sum(1 for s in reference if s.media_reuse_accounts > 1) >= 1
    assert fast == reference


def _members(rng: random.Random, n: int) -> list[_Sighted]:
    palettes = [[""], ["scam.xyz"], ["scam.xyz", ""], ["a.xyz", "b.xyz"], ["", "scam.xyz", "a.xyz", "b.xyz"]]
    domains = rng.choice(palettes)
    base = rng.randrange(1_700_000_000_000_000, 1_800_000_000_000_000)
    return [
        (
            base + rng.randrange(0, 1_200_000_000) * rng.randrange(0, 2),
            rng.random() < 0.5,
            rng.choice(domains),
            f"r{i}",
            b"",
        )
        for i in range(n)
    ]


def test_evidence_in_one_pass_is_the_columns_evidence() -> None:
    """`_evidence` (one loop) against the transposed columns and `Counter`, on random groups
    of 0 to 40 members: ties between domains, no domain, one domain, equal times."""
    tracker = BehaviorTracker(MemoryStateStore())
    rng = random.Random(3)
    shared = 0
    for _ in range(3000):
        members = _members(rng, rng.choice([0, 1, 2, 3, 5, 8, 13, 40]))
        got = tracker._evidence(members)
        assert got == reference_evidence(tracker.params, members)
        assert repr(got) == repr(reference_evidence(tracker.params, members))  # the same floats
        shared += got[3]
    assert shared > 100


@pytest.mark.parametrize("width", range(1, 19))
def test_stored_times_of_every_width_parse_as_int_reads_them(width: int) -> None:
    """The SWAR parse of up to 16 digits (and `int` past them) at every width, with leading
    zeros, the largest and smallest values of the width, and a value of another width among
    them (then `int` reads the batch)."""
    rng = random.Random(width)
    values = [str(rng.randrange(10 ** (width - 1), 10**width)) for _ in range(300)]
    values += ["9" * width, "0" * width, ("0" * (width - 1) + "1")]
    assert _event_times(values).tolist() == [int(v) for v in values]  # type: ignore[union-attr]
    mixed = [*values[:10], str(10**width), *values[10:20]]
    assert _event_times(mixed).tolist() == [int(v) for v in mixed]  # type: ignore[union-attr]
    assert _event_times([*values[:5], "1" * (width - 1) + "x"]) is None


def _random_bands(
    rng: random.Random, time_us: int, window_us: int, own: bytes
) -> tuple[dict[str, dict[str, str]], list[list[str]]]:
    """Sixteen band sets of the current bucket and (half the time) sixteen of the bucket before,
    holding accounts with one to three sightings each (in and out of the window, equal times,
    signatures equal, near, far or missing, a value that does not decode), each set one value
    per account, many sets equal to the set before them."""
    accounts: dict[str, list[str]] = {}
    for k in range(rng.randrange(1, 7)):
        values: list[str] = []
        for _ in range(rng.randrange(1, 4)):
            sighted = time_us - rng.choice([0, 0, 1, window_us // 3, window_us - 1, window_us, 2 * window_us])
            sketch = bytearray(own)
            for position in rng.sample(range(len(own)), rng.choice([0, 2, 6, 20, 24, 25, 26, 27, 32])):
                sketch[position] ^= 0xFF
            signature = rng.choice([bytes(sketch), bytes(sketch), b"", own])
            value = f"{sighted}|{rng.choice('01')}|{rng.choice(['', 'scam.xyz'])}|r{k}{len(values)}"
            values.append(value + (f"|{signature.hex()}" if signature else ""))
        if rng.random() < 0.1:
            values.append("not|a member")
        accounts[f"did:plc:{k:04d}"] = values
    spans = ["#2", "#1"] if rng.random() < 0.5 else ["#2"]
    raw: dict[str, dict[str, str]] = {}
    lsh_keys = [[f"lsh{i}:{i:08x}{span}" for i in range(16)] for span in spans]
    for keys in lsh_keys:
        held: dict[str, str] = {}
        for key in keys:
            if rng.random() < 0.3:  # a set unlike the one before it
                held = {did: rng.choice(values) for did, values in accounts.items() if rng.random() < 0.6}
            if held:
                raw[key] = dict(held)
    return raw, lsh_keys


def test_near_groups_are_those_of_the_session_10_code() -> None:
    """`_near_group` (sets equal to the one before skipped, each account's other values kept
    apart) against the set of every band's pairs, on random bands: the same members, each with
    its earliest sighting in the window, and the same name."""
    tracker, reference = BehaviorTracker(MemoryStateStore()), ReferenceTracker(MemoryStateStore())
    rng = random.Random(8)
    own = bytes(rng.randrange(256) for _ in range(32))
    time_us = 1_764_000_000_000_000
    post = Post(
        uri="at://did:plc:me/app.bsky.feed.post/r",
        did="did:plc:me",
        rkey="r",
        operation="create",
        time_us=time_us,
        text="t",
        ingested_at_us=time_us,
    )
    several = 0
    for _ in range(1500):
        raw, lsh_keys = _random_bands(rng, time_us, tracker.window_us, own)
        if not raw:
            continue
        sketch = rng.choice([own, own, b""])
        fast = tracker._near_group(lsh_keys, _BatchSets(raw), post, sketch)
        slow = reference._near_group(lsh_keys, _BatchSets(raw), post, sketch)
        assert fast.members == slow.members
        assert fast.group_id == slow.group_id
        several += len(fast.members) > 2
    assert several > 100


@pytest.mark.parametrize(("num_perm", "jaccard"), [(32, 0.5), (64, 0.3), (128, 0.8), (16, 0.6)])
def test_a_batchs_band_keys_are_each_signatures_keys_for_any_sketch(num_perm: int, jaccard: float) -> None:
    """`batch_keys` against `band_keys` of each row, for sketches of other widths and band
    counts (4 to 21 bands: prefixes of one and two digits; bands not covering every minimum)."""
    params = dataclasses.replace(BehaviourParams.default(), num_perm=num_perm, near_duplicate_jaccard=jaccard)
    sketch = NearDuplicateSketch(params)
    rng = random.Random(num_perm)
    texts = [
        " ".join(rng.choice(["claim", "your", "reward", "now", "at", "site"]) for _ in range(12))
        for _ in range(9)
    ]
    signatures = sketch.text_signatures(texts)
    assert sketch.batch_keys(signatures) == [
        (sketch.band_keys(row), sketch.compact(row)) for row in signatures
    ]
    assert sketch.batch_keys(signatures[:1]) == [
        (sketch.band_keys(signatures[0]), sketch.compact(signatures[0]))
    ]


def test_signatures_agree_as_their_xored_zero_bytes_count() -> None:
    """`_agrees` (byte by byte, stopping early) against the zero bytes of the two signatures
    XORed as integers, for every number of differing bytes and every bar, 0 to n + 1."""
    rng = random.Random(12)
    for n in (0, 1, 8, 32):
        for _ in range(60):
            a = bytes(rng.randrange(256) for _ in range(n))
            b = bytearray(a)
            for position in rng.sample(range(n), rng.randrange(n + 1)):
                b[position] = (b[position] + rng.randrange(1, 256)) % 256
            equal = (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(n, "little").count(0)
            for need in range(n + 2):
                assert _agrees(a, bytes(b), need) == (equal >= need), (n, need, equal)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_account_counts_of_shuffled_batches_across_buckets_are_the_brute_force_counts(seed: int) -> None:
    """Each post's author's posts in its window, with a few authors posting many times across
    three buckets in one batch, the batch's posts out of time order (an author's keys built
    for one bucket, then another, then the first again), against counting the posts directly."""
    rng = random.Random(seed)
    tracker = BehaviorTracker(MemoryStateStore())
    window_us, bucket_us = tracker.window_us, tracker.bucket_us
    start = (1_764_000_000_000_000 // bucket_us + 1) * bucket_us - window_us // 2
    authors = [f"did:plc:author{k:04d}" for k in range(6)]
    posts = []
    for i in range(300):
        time_us = start + rng.randrange(0, 2 * bucket_us)
        did = rng.choice(authors)
        rkey = f"3k{i:011d}"
        posts.append(
            Post(
                uri=f"at://{did}/app.bsky.feed.post/{rkey}",
                did=did,
                rkey=rkey,
                operation="create",
                time_us=time_us,
                text=f"post {i}",
                ingested_at_us=time_us,
            )
        )
    rng.shuffle(posts)
    got = []
    for begin in range(0, len(posts), 100):
        got += [s.account_posts_window for s in tracker.observe_batch(posts[begin : begin + 100])]
    seen: list[Post] = []
    expected = []
    for begin in range(0, len(posts), 100):
        seen += posts[begin : begin + 100]  # a batch counts its own posts and every earlier batch's
        for p in posts[begin : begin + 100]:
            expected.append(
                sum(1 for q in seen if q.did == p.did and p.time_us - window_us < q.time_us <= p.time_us)
            )
    assert got == expected and max(got) > 10
