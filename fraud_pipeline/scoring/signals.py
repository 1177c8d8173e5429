"""Behavioural signals: what one post cannot say alone, but the stream around it can.

Scam campaigns are one text (or one image) posted by many fresh accounts within minutes,
and single accounts bursting posts with links. The tracker keeps sliding-window counts in
memory, bounded in size, like indigo/automod's in-memory counter store. Because the
untagged stream is partitioned by author DID, each account's posts reach the same scoring
worker, so per-account counts are exact per shard; campaign counts are per shard too (a
campaign spread over N shards is seen N ways, each part still large at real volumes).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict, deque
from dataclasses import dataclass

from fraud_pipeline.records import Post

_URL = re.compile(r"https?://\S+|\b[\w-]+(?:\.[\w-]+)+/\S*", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")


def campaign_fingerprint(text: str) -> str | None:
    """A key equal for texts that differ only in URLs, numbers, case, spacing and punctuation.

    Campaigns rotate URLs and amounts to dodge exact-match filters; this folds those away.
    Very short texts ("gm", "lol") carry no campaign signal and get no key.
    """
    folded = _URL.sub(" ", text.lower())
    folded = _DIGITS.sub("0", folded)
    folded = _NON_WORD.sub(" ", folded).strip()
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
    """key -> {member: last_seen_s}, expiring members older than the window, bounded in keys."""

    def __init__(self, window_s: float, max_keys: int) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._data: OrderedDict[str, dict[str, float]] = OrderedDict()

    def add(self, key: str, member: str, now_s: float) -> int:
        members = self._data.get(key)
        if members is None:
            members = {}
            self._data[key] = members
            if len(self._data) > self.max_keys:
                self._data.popitem(last=False)
        else:
            self._data.move_to_end(key)
        members[member] = now_s
        if len(members) > 64:  # expire lazily, only when a set grows
            cutoff = now_s - self.window_s
            for stale in [m for m, seen in members.items() if seen < cutoff]:
                del members[stale]
        cutoff = now_s - self.window_s
        return sum(1 for seen in members.values() if seen >= cutoff)


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

    def observe(self, post: Post) -> PostSignals:
        """Record the post and return the signals it has now (event time, not wall time)."""
        now_s = post.time_us / 1_000_000
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
