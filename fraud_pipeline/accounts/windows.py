"""Windowed account counts (reply targets, repeated texts, follows): batch deltas, summed in memory.

Follows are most of the stream, and each follow, reply target and repeated text used to be a
member row of the state store (about 52,000 rows written per 40,000 events, then counted
back in the store): the account signals ran at 11,000 events per CPU second. Here a scoring
batch writes what it saw as ONE delta, `(kind, account, member, time)` rows serialized into
cache entries `acct:delta:<id>:<i>` (chunked under the cache's value limit), and lists it in
a directory set per minute of its writing and slot of its writer, `acct:listed#<minute>/<slot>`
(member: the delta's id, value: its chunk count). A handful of rows per batch, however many
events it holds. Each tracker lists in one of `DIRECTORY_SLOTS` slots (drawn at random when
it starts) and reads all of them: one set per minute shared by every writer grew to about
27 KB at prod's rate, and on DynamoDB each listing rewrote the whole item (2 write units per
KB in a transaction, most of an account event's write units); with the slots a listing
rewrites an eighth of it, and a read asks for eight small items instead of one large one
(about the same read units: they are counted per 4 KB of each item, and at least one).

The counts are kept in memory, per account: each member (an account replied to or followed,
a post of one folded text) with the latest time it was seen. A latest time is a max, so
merging is idempotent and order-free: a retried batch (same content, so the same id) is
merged once, and a batch re-split differently, replayed or merged late changes nothing; the
counts stay distinct members, exact. Before counting, a tracker merges the deltas that other
writers (other shards, an earlier process) listed and it has not merged yet.

Reads are bounded by the writing rate, not the window: a delta is listed in the directory set
of the minute it was WRITTEN (the writer's clock, `acct:listed#<minute>/<slot>`), whatever its event
times, so a late batch (a lagging shard, a replay) is listed among the new ones. A warm
tracker reads only the minutes written since its last read (and `DIRECTORY_SLACK_MINUTES`
before, for clock skew between writers and writes not visible yet), and merges each delta
once (deltas are immutable); a cold start reads the directory of the window once (or of all
that is still kept, when the events are older than the clock: a replay). Listing by event
minute made every batch read the directory of the whole ~62-minute window: on DynamoDB the
read units per batch grew with traffic x window. A lone writer reads none of its own deltas.
Delta entries are written before their directory entry, so a listed delta is readable; one
that is not fully readable yet is retried on the next reads until it expires.

Memory: the counts are kept by window bucket (time // window) and a count reads its bucket and
the one before, filtered by time, as the store's sets were; buckets older than that for a
judged batch's oldest event are dropped whole. What is kept is the last two windows.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from typing import Any, Final

import orjson

from fraud_pipeline.state.base import MAX_CACHE_VALUE_CHARS, MAX_MEMBER_CHARS, Sighting, StateStore

REPLY: Final = 0  # member: an account replied to or mentioned
TEXT: Final = 1  # member: "<digest of the folded text>:<rkey of the post>"
FOLLOW: Final = 2  # member: the followed account
DELTA_PREFIX: Final = "acct:delta:"
DIRECTORY_PREFIX: Final = "acct:listed#"
DIRECTORY_SLOTS: Final = 8  # directory sets per minute: each writer lists its deltas in one
DIRECTORY_BUCKET_US: Final = 60_000_000  # deltas are listed per minute of their writing (clock)
# A warm tracker re-reads this many minutes before its last read: writers' clocks may differ
# and a write may not be visible at once (one minute is read two to three times in all).
DIRECTORY_SLACK_MINUTES: Final = 2

Entry = tuple[int, str, str, int]  # (kind, account DID, member, event time in µs)


def delta_chunks(entries: list[Entry], limit: int = MAX_CACHE_VALUE_CHARS) -> list[str]:
    """The entries as JSON arrays, each under `limit` characters (halved until they fit; one
    entry is far below any limit: members are at most 512 characters)."""
    raw = orjson.dumps(entries).decode()
    if len(raw) <= limit or len(entries) == 1:
        return [raw]
    half = len(entries) // 2
    return delta_chunks(entries[:half], limit) + delta_chunks(entries[half:], limit)


def directory_key(minute: int, slot: int) -> str:
    """The directory set of one writing minute and slot: `acct:listed#<minute>/<slot>`."""
    return f"{DIRECTORY_PREFIX}{minute}/{slot}"


_SLOT_SUFFIXES: Final = tuple(str(slot) for slot in range(DIRECTORY_SLOTS))


def directory_keys(first: int, last: int) -> list[str]:
    """Every slot's `directory_key` of the minutes `first` to `last` (each minute formatted
    once: a cold start asks for some 1,500)."""
    keys: list[str] = []
    for minute in range(first, last + 1):
        stem = f"{DIRECTORY_PREFIX}{minute}/"
        keys.extend([stem + suffix for suffix in _SLOT_SUFFIXES])
    return keys


Members = dict[str, int]  # member -> the latest time it was seen (µs)
# A batch whose times span more buckets than this is counted account by account (a replay's
# batch), not through the heavy sets of every bucket in between.
_HEAVY_SPAN: Final = 8


def _half_bars(bars: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """Half of each bar, rounded up: two buckets each holding fewer members than that hold
    fewer than the bar (2 x (ceil(bar / 2) - 1) < bar). None (no heavy sets kept) without
    bars or with a bar below 1, which an account holding nothing reaches."""
    if bars is None or min(bars) < 1:
        return None
    reply, text, follow = bars
    return (reply + 1) // 2, (text + 1) // 2, (follow + 1) // 2


_NONE: Final[dict[Any, Any]] = {}  # an empty dict to read from, never written


def _distinct_since(recent: Members, older: Members, since: int) -> int:
    """Distinct members of the bucket of the count's time (`recent`: all of them are in the
    window, see `_since`) and of the bucket before (`older`) seen at or after `since`."""
    if not older:
        return len(recent)
    return len(recent.keys() | [m for m, t in older.items() if t >= since])


class AccountWindows:
    """One tracker's view of the windowed members of every account, fed by batch deltas."""

    def __init__(
        self,
        store: StateStore,
        window_us: int,
        follow_window_us: int,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
        slot: int | None = None,
        bars: tuple[int, int, int] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock  # seconds: the directory minute a delta is listed in and read from
        # The directory slot this writer lists its deltas in (random: writers need not know
        # each other; two in one slot share its set, as all did before the slots).
        self.slot = random.randrange(DIRECTORY_SLOTS) if slot is None else slot % DIRECTORY_SLOTS
        self.window_us = window_us
        self.follow_window_us = follow_window_us
        self.ttl_s = ttl_s
        # By window bucket (time // window), as the counts are asked for: the current bucket
        # and the one before, filtered by time; forgetting is dropping whole old buckets.
        self.replies: dict[int, dict[str, Members]] = {}  # bucket -> account -> accounts replied to
        self.texts: dict[int, dict[str, dict[str, Members]]] = {}  # bucket -> account -> digest -> rkeys
        self.follows: dict[int, dict[str, Members]] = {}  # follow bucket -> account -> accounts followed
        # bucket -> account -> the most posts any one of its texts holds in the bucket: a bound
        # that tells most accounts are below the repeated-text bar without counting
        self.text_peaks: dict[int, dict[str, int]] = {}
        # `bars` (reply targets, one text's posts, follows: the counts `reaching` is asked of):
        # per bucket, the accounts holding at least half a bar's members in it (`_half_bars`).
        # Two buckets below half a bar hold fewer than the bar, so `reaching` counts only these
        # (a few heavy accounts) instead of looking every account of a batch up in six maps.
        self.bars = bars
        self._halves = _half_bars(bars)
        self.heavy_replies: dict[int, set[str]] = {}  # bucket -> accounts at half the reply bar
        self.heavy_texts: dict[int, set[str]] = {}  # bucket -> accounts whose text peak is at half
        self.heavy_follows: dict[int, set[str]] = {}  # follow bucket -> accounts at half the bar
        self._merged: dict[str, int] = {}  # delta id -> the directory minute it was listed in
        self._unreadable: dict[str, tuple[int, int]] = {}  # delta id -> (chunks, minute): retried
        self._read_to: int | None = None  # the directory minute of the last read (None: cold)

    # -- writing -----------------------------------------------------------------------

    def record(self, entries: list[Entry]) -> None:
        """Merge a batch's entries and write them as one delta (nothing when this writer
        already merged the same delta: a retried batch)."""
        if not entries:
            return
        raw = orjson.dumps(entries)
        delta_id = hashlib.blake2b(raw, digest_size=12).hexdigest()
        if delta_id in self._merged:
            return
        self._merge(entries)
        chunks = delta_chunks(entries) if len(raw) > MAX_CACHE_VALUE_CHARS else [raw.decode()]
        self.store.put_cached({f"{DELTA_PREFIX}{delta_id}:{i}": c for i, c in enumerate(chunks)}, self.ttl_s)
        minute = self._minute()
        listing = Sighting(directory_key(minute, self.slot), delta_id, str(len(chunks)))
        self.store.add_members([listing], self.ttl_s)
        self._merged[delta_id] = minute

    def _minute(self) -> int:
        return int(self.clock() * 1_000_000) // DIRECTORY_BUCKET_US

    def _merge(self, entries: list[Entry]) -> None:
        """Merge entries into the buckets (a list: compiled, walked by index, not as an iterator)."""
        replies, texts, follows, peaks = self.replies, self.texts, self.follows, self.text_peaks
        window_us, follow_window_us = self.window_us, self.follow_window_us
        # Half of each bar (none: no heavy sets kept, `_half_bars`): a member set (a text's
        # peak) growing to it puts its account in its bucket's heavy set (they grow one by one).
        reply_half, text_half, follow_half = self._halves or (0, 0, 0)
        members: Members | None
        # A batch's entries share one or two buckets: the last bucket's account maps are kept.
        follow_at = reply_at = text_at = -1
        follows_now: dict[str, Members] = {}
        replies_now: dict[str, Members] = {}
        texts_now: dict[str, dict[str, Members]] = {}
        peaks_now: dict[str, int] = {}
        heavy_follows: set[str] = set()
        heavy_replies: set[str] = set()
        heavy_texts: set[str] = set()
        for kind, did, member, t in entries:
            if kind == FOLLOW:
                if t // follow_window_us != follow_at:
                    follow_at = t // follow_window_us
                    follows_now = follows.setdefault(follow_at, {})
                    heavy_follows = self.heavy_follows.setdefault(follow_at, set())
                members = follows_now.get(did)
                if members is None:
                    members = follows_now[did] = {}
                seen = members.get(member)
                if seen is None:
                    members[member] = t
                    if len(members) == follow_half:
                        heavy_follows.add(did)
                elif seen < t:
                    members[member] = t
                continue
            if kind == REPLY:
                if t // window_us != reply_at:
                    reply_at = t // window_us
                    replies_now = replies.setdefault(reply_at, {})
                    heavy_replies = self.heavy_replies.setdefault(reply_at, set())
                members = replies_now.get(did)
                if members is None:
                    members = replies_now[did] = {}
                seen = members.get(member)
                if seen is None:
                    members[member] = t
                    if len(members) == reply_half:
                        heavy_replies.add(did)
                elif seen < t:
                    members[member] = t
                continue
            if t // window_us != text_at:
                text_at = t // window_us
                texts_now = texts.setdefault(text_at, {})
                peaks_now = peaks.setdefault(text_at, {})
                heavy_texts = self.heavy_texts.setdefault(text_at, set())
            digest, _, member = member.partition(":")
            by_digest = texts_now.get(did)
            if by_digest is None:
                by_digest = texts_now[did] = {}
            members = by_digest.get(digest)
            if members is None:
                members = by_digest[digest] = {}
            seen = members.get(member)
            if seen is None:
                # The account's peak (its most posts of one text in the bucket) grows by one
                # when this text holds as many as the peak.
                if peaks_now.get(did, 0) <= len(members):
                    peaks_now[did] = len(members) + 1
                    if len(members) + 1 == text_half:
                        heavy_texts.add(did)
                members[member] = t
            elif seen < t:
                members[member] = t

    def forget_before(self, oldest_us: int) -> None:
        """Drop the buckets no count from `oldest_us` on can need (a count reads its bucket
        and the one before): called with the oldest event time of a judged batch (later
        batches are expected to be no older)."""
        for buckets, width in (
            (self.follows, self.follow_window_us),
            (self.replies, self.window_us),
            (self.texts, self.window_us),
            (self.text_peaks, self.window_us),
            (self.heavy_follows, self.follow_window_us),
            (self.heavy_replies, self.window_us),
            (self.heavy_texts, self.window_us),
        ):
            keep_from = oldest_us // width - 1
            for bucket in [b for b in buckets if b < keep_from]:
                del buckets[bucket]

    # -- reading -----------------------------------------------------------------------

    def sync(self, until_us: int) -> None:
        """Merge the deltas other writers listed that this one has not merged yet: warm, those
        listed in the minutes since its last read (and a slack before); cold, those listed in
        the window ending at `until_us` (by the clock, or all still kept when `until_us` is
        older: a replay). A delta not fully readable yet is retried on the next calls."""
        now = self._minute()
        kept = -(-self.ttl_s * 1_000_000 // DIRECTORY_BUCKET_US)  # minutes a listing lives
        if self._read_to is None:
            span = -(-max(self.window_us, self.follow_window_us) // DIRECTORY_BUCKET_US)
            window_from = min(now, until_us // DIRECTORY_BUCKET_US) - span - DIRECTORY_SLACK_MINUTES
            first = max(now - kept, window_from)
        else:
            first = min(self._read_to, now) - DIRECTORY_SLACK_MINUTES
        self._read_to = now if self._read_to is None else max(now, self._read_to)
        # Read with the time-to-live the listings were written with: a store that keeps sets by
        # their time-to-live looks only where they live (SQLite: its set log; without the hint
        # it looked the keys its log lacked up in its tables, where the account records put
        # their `acct` kind: a cold start's 1,464 keys, 1.9 k instructions per post of the
        # bench's first 6,000).
        listed = self.store.get_members(directory_keys(first, now), self.ttl_s)
        merged = self._merged
        missing = {d: v for d, v in self._unreadable.items() if v[1] >= now - kept}
        for key, deltas in listed.items():
            minute = int(key[len(DIRECTORY_PREFIX) :].partition("/")[0])
            for delta_id, chunks in deltas.items():
                if delta_id not in merged and chunks.isdigit():
                    missing[delta_id] = (int(chunks), minute)
        if len(merged) > 64 and min(merged.values()) < first - 1:  # never listed in a read again
            self._merged = merged = {d: m for d, m in merged.items() if m >= first - 1}
        self._unreadable = {}
        if not missing:
            return
        keys = [f"{DELTA_PREFIX}{d}:{i}" for d, (count, _) in missing.items() for i in range(count)]
        found = self.store.get_cached(keys)
        for delta_id, (count, minute) in missing.items():
            parts = [found.get(f"{DELTA_PREFIX}{delta_id}:{i}") for i in range(count)]
            if None in parts:
                self._unreadable[delta_id] = (count, minute)
                continue
            for part in parts:
                if part is not None:
                    self._merge(_entries(part))
            merged[delta_id] = minute

    def reply_targets(self, did: str, at_us: int) -> int:
        """Distinct accounts `did` replied to or mentioned in the window ending at `at_us`."""
        return _windowed(self.replies, did, at_us, self.window_us)

    def follow_count(self, did: str, at_us: int) -> int:
        """Distinct accounts `did` followed in the follow window ending at `at_us`."""
        return _windowed(self.follows, did, at_us, self.follow_window_us)

    def reaching(
        self, latest: dict[str, int], reply_bar: int, text_bar: int, follow_bar: int
    ) -> dict[str, tuple[bool, bool, bool]]:
        """The accounts of `latest` (account -> time) with a windowed count at its bar at that
        time, and which: (reply targets, one text's posts, follows), for a whole batch in one
        call. With the bars this tracker keeps heavy sets for, only the batch's accounts in
        the heavy sets of the buckets its counts read are counted (most batches: none);
        otherwise every account is looked at (`_reaching_walk`)."""
        heavy = self._heavy_among(latest, (reply_bar, text_bar, follow_bar))
        if heavy is None:
            return self._reaching_walk(latest, reply_bar, text_bar, follow_bar)
        if not heavy:
            return {}
        found = self._reaching_walk({did: latest[did] for did in heavy}, reply_bar, text_bar, follow_bar)
        if len(found) < 2:
            return found
        return {did: found[did] for did in latest if did in found}  # in the batch's order

    def _heavy_among(self, latest: dict[str, int], bars: tuple[int, int, int]) -> set[str] | None:
        """The accounts of `latest` in a heavy set of a bucket one of their counts may read
        (a superset of those at a bar: an account in none holds fewer than half of each bar
        in each of the two buckets a count reads), or None when the heavy sets cannot tell
        (other bars than this tracker's, no heavy sets, or a batch spanning many buckets)."""
        if self._halves is None or bars != self.bars or not latest:
            return None
        # A typed walk: compiled, `min` and `max` compared each boxed time generically.
        first = last = next(iter(latest.values()))
        for t in latest.values():
            if t < first:
                first = t
            elif t > last:
                last = t
        window_us, follow_window_us = self.window_us, self.follow_window_us
        if last // window_us - first // window_us > _HEAVY_SPAN or (
            last // follow_window_us - first // follow_window_us > _HEAVY_SPAN
        ):
            return None
        accounts = latest.keys()
        out: set[str] = set()
        for bucket in range(first // window_us - 1, last // window_us + 1):
            for sets in (self.heavy_replies, self.heavy_texts):
                held = sets.get(bucket)
                if held:
                    out |= accounts & held  # iterates the smaller of the two
        for bucket in range(first // follow_window_us - 1, last // follow_window_us + 1):
            held = self.heavy_follows.get(bucket)
            if held:
                out |= accounts & held
        return out

    def _reaching_walk(
        self, latest: dict[str, int], reply_bar: int, text_bar: int, follow_bar: int
    ) -> dict[str, tuple[bool, bool, bool]]:
        """`reaching` of every account of `latest`. Most accounts hold nothing, or fewer
        members than any bar in the two buckets a count reads (for repeated texts: the most
        posts any one text holds, `text_peaks`), and are not counted; a batch's times share
        one or two buckets."""
        out: dict[str, tuple[bool, bool, bool]] = {}
        window_us, follow_window_us = self.window_us, self.follow_window_us
        at = follow_at = -1
        replies_now = replies_before = peaks_now = peaks_before = _NONE
        follows_now = follows_before = _NONE
        for did, t in latest.items():
            if t // window_us != at:
                at = t // window_us
                replies_now, replies_before = self.replies.get(at, _NONE), self.replies.get(at - 1, _NONE)
                peaks_now, peaks_before = self.text_peaks.get(at, _NONE), self.text_peaks.get(at - 1, _NONE)
            if t // follow_window_us != follow_at:
                follow_at = t // follow_window_us
                follows_now = self.follows.get(follow_at, _NONE)
                follows_before = self.follows.get(follow_at - 1, _NONE)
            replies = len(replies_now.get(did, _NONE)) + len(replies_before.get(did, _NONE)) >= reply_bar
            texts = peaks_now.get(did, 0) + peaks_before.get(did, 0) >= text_bar
            follows = len(follows_now.get(did, _NONE)) + len(follows_before.get(did, _NONE)) >= follow_bar
            if not (replies or texts or follows):  # fewer members held than any bar: no count
                continue
            replies = replies and self.reply_targets(did, t) >= reply_bar
            texts = texts and self.repeated_text(did, t) >= text_bar
            follows = follows and self.follow_count(did, t) >= follow_bar
            if replies or texts or follows:
                out[did] = (replies, texts, follows)
        return out

    def follows_reaching(self, latest: dict[str, int], bar: int) -> list[str]:
        """The accounts of `latest` (account -> time) that followed `bar` accounts in the follow
        window ending at their time, in one call (most hold a few follows, fewer than the bar
        in the two buckets a count reads, and are not counted; a batch's times share one or
        two buckets). With this tracker's follow bar, only the accounts in the heavy sets of
        those buckets are looked at."""
        if self._halves is not None and self.bars is not None and bar == self.bars[2] and latest:
            times = latest.values()
            first, last = min(times) // self.follow_window_us, max(times) // self.follow_window_us
            if last - first <= _HEAVY_SPAN:
                accounts = latest.keys()
                heavy: set[str] = set()
                for bucket in range(first - 1, last + 1):
                    held = self.heavy_follows.get(bucket)
                    if held:
                        heavy |= accounts & held
                if not heavy:
                    return []
                latest = {did: t for did, t in latest.items() if did in heavy}
        out: list[str] = []
        follows, width = self.follows, self.follow_window_us
        at: int | None = None
        now: dict[str, Members] = _NONE
        before: dict[str, Members] = _NONE
        for did, t in latest.items():
            if t // width != at:
                at = t // width
                now, before = follows.get(at, _NONE), follows.get(at - 1, _NONE)
            if (
                len(now.get(did, _NONE)) + len(before.get(did, _NONE)) >= bar
                and self.follow_count(did, t) >= bar
            ):
                out.append(did)
        return out

    def repeated_text(self, did: str, at_us: int) -> int:
        """Posts of `did`'s most repeated folded text in the window ending at `at_us`."""
        b = at_us // self.window_us
        now = self.texts.get(b, _NONE).get(did)
        before = self.texts.get(b - 1, _NONE).get(did)
        since = at_us - self.window_us + 1
        best = 0
        if before is None:  # one bucket, the window's own: the usual case (all in the window)
            return max(map(len, now.values()), default=0) if now else 0
        if now is None:
            for members in before.values():
                if len(members) > best:  # cannot beat the best so far otherwise
                    best = max(best, _since(members, since))
            return best
        for digest in now.keys() | before.keys():
            recent, older = now.get(digest, _NONE), before.get(digest, _NONE)
            if len(recent) + len(older) > best:
                best = max(best, _distinct_since(recent, older, since))
        return best


def _since(members: Members, since: int) -> int:
    """Members seen at or after `since`: needed for the bucket BEFORE the count's time only.
    A window (at - width, at] starts at `since` = at - width + 1, at or before the start of the
    bucket holding `at` (at < (at // width + 1) * width), so every member of that bucket is in
    the window (later members, merged from another writer, count as they always did)."""
    n = 0
    for t in members.values():
        if t >= since:
            n += 1
    return n


def _windowed(buckets: dict[int, dict[str, Members]], did: str, at_us: int, width: int) -> int:
    b = at_us // width
    now = buckets.get(b, _NONE).get(did)
    before = buckets.get(b - 1, _NONE).get(did)
    since = at_us - width + 1
    if before is None:  # every member of the bucket of `at_us` is in its window (see `_since`)
        return len(now) if now else 0
    if now is None:
        return _since(before, since)
    return _distinct_since(now, before, since)


def _entries(raw: str) -> list[Entry]:
    """A delta chunk's entries; malformed rows (another version's, a damaged entry) are skipped."""
    out: list[Entry] = []
    try:
        rows = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return out
    if not isinstance(rows, list):
        return out
    for row in rows:
        if (
            isinstance(row, list)
            and len(row) == 4
            and row[0] in (REPLY, TEXT, FOLLOW)
            and isinstance(row[1], str)
            and isinstance(row[2], str)
            and 0 < len(row[2]) <= MAX_MEMBER_CHARS
            and type(row[3]) is int
        ):
            out.append((row[0], row[1], row[2], row[3]))
    return out
