"""Behavioural signals: what one post cannot say alone, but the stream around it can.

Scam campaigns are one text (or one image) posted by many fresh accounts within minutes,
and single accounts bursting posts with links. The tracker keeps sliding-window counts in
memory, bounded in size, like indigo/automod's in-memory counter store. Because the
untagged stream is partitioned by author DID, each account's posts reach the same scoring
worker, so per-account counts are exact per shard; campaign counts are per shard too (a
campaign spread over N shards is seen N ways, each part still large at real volumes).

The counts are soft state, but a restart should not blind the scorer for a whole window:
`snapshot()` / `restore()` turn the live window into bytes that the scoring runtime keeps in
the object store (`behavior_snapshots.py`), so a new worker or Lambda container picks up
where the last one stopped.
"""

from __future__ import annotations

import hashlib
import string
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import orjson
import zstandard

from fraud_pipeline.records import Post

SNAPSHOT_FORMAT = "fraud-pipeline-behavior/1"


class SnapshotError(ValueError):
    """A behaviour snapshot cannot be read (corrupt, truncated or another format)."""


# Punctuation becomes space and digits become 0, in one C-level pass (str.translate).
_FOLD = {ord(c): " " for c in string.punctuation}
_FOLD.update({ord(d): "0" for d in string.digits})


def _is_link_token(token: str) -> bool:
    """URLs and bare domains (`a.xyz`, `http://…`, `x.com/abc`): what campaigns rotate."""
    return "/" in token or "." in token.strip(".,!?;:)(\"'")


def campaign_fingerprint(text: str) -> str | None:
    """A key equal for texts that differ only in URLs, numbers, case, spacing and punctuation.

    Campaigns rotate URLs and amounts to dodge exact-match filters; this folds those away.
    Very short texts ("gm", "lol") carry no campaign signal and get no key.
    """
    lowered = text.lower()
    if "/" in lowered or "." in lowered:
        lowered = " ".join(t for t in lowered.split() if not _is_link_token(t))
    folded = " ".join(lowered.translate(_FOLD).split())
    if len(folded) < 24:
        return None
    return hashlib.blake2b(folded.encode("utf-8", "replace"), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class PostSignals:
    """Signals for one post, as seen at scoring time."""

    account_posts_window: int  # posts by this DID in the window, this one included
    account_is_new: bool  # first post of this DID seen by this worker
    campaign_id: str | None  # fingerprint of the text when it qualifies as a campaign
    campaign_accounts: int  # distinct DIDs that posted this fingerprint in the window
    media_reuse_accounts: int  # most distinct DIDs sharing one of this post's blob CIDs


class _WindowedSets:
    """key -> members seen within the window, bounded in keys; O(1) amortized per add.

    Each key's members are kept in order of last sighting (re-inserted when seen again), so
    expiry pops from the front and the count is just the size.
    """

    def __init__(self, window_s: float, max_keys: int) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._data: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def add(self, key: str, member: str, now_s: float) -> int:
        """Record `member` under `key` at `now_s`; returns the distinct members in the window."""
        members = self._data.get(key)
        if members is None:
            members = OrderedDict()
            self._data[key] = members
            if len(self._data) > self.max_keys:
                self._data.popitem(last=False)
        else:
            self._data.move_to_end(key)
            members.pop(member, None)
        members[member] = now_s
        cutoff = now_s - self.window_s
        while members:
            oldest_member, seen = next(iter(members.items()))
            if seen >= cutoff:
                break
            del members[oldest_member]
        return len(members)

    def export(self, cutoff_s: float) -> dict[str, dict[str, float]]:
        """Members seen at or after `cutoff_s`, per key, oldest key first."""
        out = {}
        for key, members in self._data.items():
            live = {member: seen for member, seen in members.items() if seen >= cutoff_s}
            if live:
                out[key] = live
        return out

    def merge(self, exported: dict[str, dict[str, float]]) -> None:
        """Add exported sightings, keeping each member's latest; members stay in time order
        (expiry pops from the front), whichever side saw them."""
        for key, members in exported.items():
            combined = dict(self._data.get(key, {}))
            for member, seen in members.items():
                if seen > combined.get(member, float("-inf")):
                    combined[member] = seen
            self._data[key] = OrderedDict(sorted(combined.items(), key=lambda item: item[1]))
            self._data.move_to_end(key)
            if len(self._data) > self.max_keys:
                self._data.popitem(last=False)


class BehaviorTracker:
    """Sliding-window counters over the post stream, in memory and bounded."""

    def __init__(
        self,
        window_s: float = 600.0,
        campaign_min_accounts: int = 3,
        max_accounts: int = 500_000,
        max_fingerprints: int = 200_000,
    ) -> None:
        self.window_s = window_s
        self.campaign_min_accounts = campaign_min_accounts
        self.max_accounts = max_accounts
        self._account_times: OrderedDict[str, deque[float]] = OrderedDict()
        self._texts = _WindowedSets(window_s, max_fingerprints)
        self._blobs = _WindowedSets(window_s, max_fingerprints)
        self.latest_s = 0.0  # newest event time seen: the window's end

    def observe(self, post: Post) -> PostSignals:
        """Record the post and return the signals it has now (event time, not wall time)."""
        now_s = post.time_us / 1_000_000
        self.latest_s = max(self.latest_s, now_s)
        times = self._account_times.get(post.did)
        account_is_new = times is None
        if times is None:
            times = deque()
            self._account_times[post.did] = times
            if len(self._account_times) > self.max_accounts:
                self._account_times.popitem(last=False)
        else:
            self._account_times.move_to_end(post.did)
        times.append(now_s)
        cutoff = now_s - self.window_s
        while times and times[0] < cutoff:
            times.popleft()

        fingerprint = campaign_fingerprint(post.text)
        campaign_accounts = self._texts.add(fingerprint, post.did, now_s) if fingerprint else 0
        reuse = max((self._blobs.add(cid, post.did, now_s) for cid in post.media_cids), default=0)
        is_campaign = fingerprint is not None and campaign_accounts >= self.campaign_min_accounts
        return PostSignals(
            account_posts_window=len(times),
            account_is_new=account_is_new,
            campaign_id=fingerprint if is_campaign else None,
            campaign_accounts=campaign_accounts,
            media_reuse_accounts=reuse,
        )

    # -- persistence --------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The live window (sightings newer than `latest_s - window_s`), zstd-compressed JSON."""
        cutoff = self.latest_s - self.window_s
        accounts = {}
        for did, times in self._account_times.items():
            live = [t for t in times if t >= cutoff]
            if live:
                accounts[did] = live
        body = {
            "format": SNAPSHOT_FORMAT,
            "window_s": self.window_s,
            "latest_s": self.latest_s,
            "accounts": accounts,
            "texts": self._texts.export(cutoff),
            "blobs": self._blobs.export(cutoff),
        }
        return zstandard.ZstdCompressor(level=3).compress(orjson.dumps(body))

    def restore(self, data: bytes) -> int:
        """Merge a snapshot into this tracker (sightings already here win if newer); returns
        the accounts it brought. Raises `SnapshotError` for anything that is not a snapshot."""
        body = _read_snapshot(data)
        for did, times in body["accounts"].items():
            known = self._account_times.get(did)
            merged = sorted(set(times) | set(known or ()))
            self._account_times[did] = deque(merged)
            self._account_times.move_to_end(did)
            if len(self._account_times) > self.max_accounts:
                self._account_times.popitem(last=False)
        self._texts.merge(body["texts"])
        self._blobs.merge(body["blobs"])
        self.latest_s = max(self.latest_s, float(body["latest_s"]))
        return len(body["accounts"])


def _read_snapshot(data: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(zstandard.ZstdDecompressor().decompress(data))
    except (zstandard.ZstdError, orjson.JSONDecodeError) as exc:
        raise SnapshotError(f"not a behaviour snapshot: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
        found = body.get("format") if isinstance(body, dict) else type(body).__name__
        raise SnapshotError(f"behaviour snapshot format {found!r}, expected {SNAPSHOT_FORMAT!r}")
    try:
        float(body["latest_s"])
        _check_sightings(body["accounts"], list)
        _check_sightings(body["texts"], dict)
        _check_sightings(body["blobs"], dict)
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"behaviour snapshot is malformed: {exc!r}") from exc
    return body


def _check_sightings(section: Any, kind: type) -> None:
    """`{key: [t, ...]}` (kind list) or `{key: {member: t}}` (kind dict), every t a number."""
    if not isinstance(section, dict):
        raise TypeError("expected a mapping")
    for value in section.values():
        if isinstance(value, dict) and kind is dict:
            times = list(value.values())
        elif isinstance(value, list) and kind is list:
            times = value
        else:
            raise TypeError(f"expected a mapping of {kind.__name__}")
        if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times):
            raise TypeError("sighting times must be numbers")
