"""Behavioural signals: what one post cannot say alone, but the stream around it can.

Scam campaigns are one text (or near-duplicates of it, or one image) posted with a link by
many brand-new accounts within minutes; benign texts repeat too (greetings, lyrics, memes, a
viral quote), but they come from accounts the stream already knows, spread over time, and
mostly push nowhere. The tracker counts behaviour in the state port (`fraud_pipeline/state`),
never in the scoring process: on AWS each of the 120 shards is scored by its own Lambda
invocations, so a campaign of 100 accounts is about one post per shard and only a count kept
outside the shards can see it. A campaign's count is the same with 1, 16 or 120 shards.

Everything is a *member set* in the store (distinct accounts, distinct posts), keyed by the
event-time bucket of twice `window_s` so sets stay small and expire on their own (a post's
window reaches back into the bucket before its own for half the posts: only then is that
bucket read):

  first:<did>               the account's first sighting in the stream (kept `account_memory_s`)
  acct:<did>#<bucket>       the account's posts (burst signal)
  fp:<fingerprint>#<bucket> accounts posting one folded text (exact campaign)
  lsh<i>:<band>#<bucket>    accounts whose MinHash band i matches (near-duplicate candidates;
                            each value also carries the post's compact signature)
  media:<cid>#<bucket>      accounts posting one image blob (image reuse)

A member's value records its first sighting in the set: event time, whether the account was
new then, the link domain, the post's rkey. Counts are "as of the post's event time" (members
seen in the window ending at it), so they do not depend on how posts were batched or sharded;
adding a member is idempotent, so a re-delivered batch counts nothing twice. A batch of posts
costs at most four store calls, each carrying the whole batch: read the first sightings the
tracker has not read lately, write the new ones, add everything, read the sets.

Near-duplicates are found in two steps, as LSH is meant to be used: the bands (tuned by
datasketch for `near_duplicate_jaccard`, so spun wording still shares a band) give candidates,
and each candidate's stored signature confirms the estimated Jaccard, so a band that two
unrelated posts happen to share adds nobody to a group.

Campaign evidence (0..1) grows with the distinct accounts, the share of new ones, how
concentrated in time they are, and whether they share a link domain (`campaign_evidence`).
Only posts that push somewhere (a link, a mention or media) join text and image sets, and
near-duplicate sets only posts with a link (`near_duplicate_links_only`): repetition without a
destination is not a campaign. When a campaign's evidence first
crosses `campaign_bar`, the post that crossed it carries the earlier posts of the
campaign (`relabel`), so the scorer can re-label them with a verdict update.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import time
import zlib
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, KeysView, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from datasketch import MinHash, MinHashLSH

from fraud_pipeline.batch_gc import collector_paused
from fraud_pipeline.ingest.links import registrable_domain
from fraud_pipeline.records import POST_COLLECTION, Post
from fraud_pipeline.scoring.canonical import TextForms, fold_text
from fraud_pipeline.state.base import SightingRow, SightingRuns, StateStore
from fraud_pipeline.state.memory import MemoryStateStore

if TYPE_CHECKING:
    from fraud_pipeline.policy.schema import PolicySpec


@dataclass(frozen=True)
class BehaviourParams:
    """Windows, bars and weights of behaviour and campaign evidence: the detection policy's
    `windows` and `campaign` sections (policy/behaviour.yaml), the one place they are set."""

    window_s: float  # sliding window of every count
    min_accounts: int  # a group counts towards a campaign from this many distinct accounts
    new_account_s: float  # an account first seen this recently counts as new
    account_memory_s: int  # how long an account's first sighting is remembered
    min_chars: int  # shorter folded texts carry no campaign signal ("gm", "lol")
    num_perm: int  # MinHash permutations
    near_duplicate_jaccard: float  # Jaccard the LSH bands are tuned for
    shingle_chars: int  # near-duplicates are compared on shingles of this many characters
    size_scale: float  # accounts past `min_accounts` at which the size term reaches 1 - 1/e
    weight_base: float  # evidence from spread alone
    weight_new: float  # ... times the share of new accounts
    weight_concentration: float  # ... times 1 - span / window
    weight_shared_domain: float  # ... when most accounts link one domain
    shared_domain_share: float  # "most" above
    campaign_bar: float  # evidence that makes a group a campaign; crossing it re-labels earlier posts
    minhash_seed: int = 1  # fixes datasketch's permutations (changing it regroups every band)
    near_duplicate_links_only: bool = False  # only posts with a link join near-duplicate groups

    def __post_init__(self) -> None:
        weights = self.weight_base + self.weight_new + self.weight_concentration + self.weight_shared_domain
        if abs(weights - 1.0) > 1e-6:
            raise ValueError(f"campaign evidence weights must sum to 1, got {weights}")
        if self.window_s <= 0 or self.min_accounts < 2 or self.num_perm < 1:
            raise ValueError("window_s > 0, min_accounts >= 2 and num_perm >= 1 are required")

    @classmethod
    def from_policy(cls, spec: PolicySpec) -> BehaviourParams:
        campaign = spec.campaign
        return cls(
            window_s=spec.windows.behaviour_s,
            min_accounts=campaign.min_accounts,
            new_account_s=campaign.new_account_s,
            account_memory_s=campaign.account_memory_days * 86400,
            min_chars=campaign.fingerprint.min_chars,
            num_perm=campaign.minhash_permutations,
            near_duplicate_jaccard=campaign.near_duplicate_jaccard,
            near_duplicate_links_only=campaign.near_duplicate_links_only,
            shingle_chars=campaign.shingle_chars,
            size_scale=campaign.size_scale,
            weight_base=campaign.weights.base,
            weight_new=campaign.weights.new_accounts,
            weight_concentration=campaign.weights.concentration,
            weight_shared_domain=campaign.weights.shared_domain,
            shared_domain_share=campaign.shared_domain_share,
            campaign_bar=campaign.bar,
        )

    @classmethod
    def default(cls) -> BehaviourParams:
        """The project's own policy (policy/behaviour.yaml)."""
        from fraud_pipeline.policy import load_default_policy

        return cls.from_policy(load_default_policy().spec)

    @property
    def set_ttl_s(self) -> int:
        """A set's bucket spans two windows and is read for one window after it, so it is read
        at most three windows after its last write; then it may be forgotten."""
        return int(3 * self.window_s) + 60


def _site(host: str) -> str:
    """The registrable domain of a link host (public suffix list): campaigns that rotate
    subdomains (`a1.scam.xyz`, `b2.scam.xyz`) still share one domain."""
    return registrable_domain(host) or host


def campaign_fingerprint(text: str, min_chars: int) -> str | None:
    """A key equal for texts that differ only in URLs, numbers, case, spacing and punctuation.

    Campaigns rotate URLs and amounts to dodge exact-match filters; this folds those away.
    Very short texts ("gm", "lol") carry no campaign signal and get no key.
    """
    folded = fold_text(text)
    if len(folded) < min_chars:
        return None
    return _digest(folded.encode("utf-8", "replace"))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class NearDuplicateSketch:
    """MinHash (datasketch's affine32 scheme, crc32 of character shingles) and LSH band keys.

    datasketch defines the permutations and, through `MinHashLSH`, the bands and rows
    optimal for the Jaccard threshold; the band keys go to the state store as distinct-account
    sets, which makes near-duplicates global across shards. Bands tuned for a low threshold
    also collide unrelated posts now and then, so each member carries a compact signature
    (`compact`) that verifies the candidate (`similarity`). Signatures of a whole batch are
    computed in one numpy pass (datasketch's `update_batch` costs ~0.3 ms per post in numpy
    call overhead); a test keeps them equal to `MinHash.update_batch`.
    """

    def __init__(self, params: BehaviourParams) -> None:
        self.num_perm = params.num_perm
        self.shingle_chars = params.shingle_chars
        reference = MinHash(num_perm=params.num_perm, seed=params.minhash_seed, hashfunc=zlib.crc32)
        self.permutations = reference.permutations
        self.scheme = reference.scheme
        lsh = MinHashLSH(threshold=params.near_duplicate_jaccard, num_perm=params.num_perm)
        self.hashranges: list[tuple[int, int]] = list(lsh.hashranges)
        self._crc_tables = self._crc_tables_for(self.shingle_chars)

    def shingles(self, folded: str) -> list[bytes]:
        """Character shingles: spun wording ("Hey/Hi everyone, I found/discovered a site")
        keeps most of them, where word shingles would all change."""
        data = folded.encode("utf-8", "replace")
        k = self.shingle_chars
        if len(data) <= k:
            return [data] if data else []
        return [data[i : i + k] for i in range(len(data) - k + 1)]

    def signatures(self, shingle_lists: Sequence[list[bytes]]) -> np.ndarray:
        """One MinHash signature (uint32[num_perm]) per non-empty shingle list, in order."""
        lengths = [len(s) for s in shingle_lists]
        if not shingle_lists or min(lengths) == 0:
            raise ValueError("every shingle list must be non-empty")
        hv = np.fromiter((zlib.crc32(s) for shingles in shingle_lists for s in shingles), dtype=np.uint32)
        starts = np.cumsum([0, *lengths[:-1]])
        return self._minima(_fmix32(hv), starts)

    def _minima(self, hv: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Each text's minimum of every permutation of its shingles' hashes `hv` (the texts'
        shingles one after another, text i's from `first[i]`): uint32[texts, num_perm].

        Laid out one permutation per row (num_perm x shingles), so the multiply-add runs along
        rows as long as the batch's shingles and each text's minimum is a reduction over a
        contiguous run: three times faster in numpy than shingles x num_perm, whose inner
        loops are num_perm long and whose reduction strides across rows."""
        a, b = self.permutations
        permuted = np.multiply.outer(a, hv)  # uint32 wraparound is the modulo 2^32 of affine32
        permuted += b[:, None]
        return np.ascontiguousarray(np.minimum.reduceat(permuted, first, axis=1).T)

    def text_signatures(self, texts: Sequence[str]) -> np.ndarray:
        """`signatures` of each text's `shingles`, the crc32 of every shingle of the batch found
        at once: crc32 is affine over GF(2) for inputs of one length, so the crc of a k-byte
        shingle is a constant XOR one table entry per byte position (`_crc_tables`), which numpy
        looks up for all shingles together (no Python call per shingle)."""
        data = [text.encode("utf-8", "replace") for text in texts]
        k = self.shingle_chars
        lengths = np.fromiter(map(len, data), dtype=np.int64, count=len(data))
        if not data or int(lengths.min()) < k:  # a text shorter than a shingle is one shingle
            return self.signatures([self.shingles(text) for text in texts])
        counts = lengths - (k - 1)  # shingles per text
        first = np.cumsum(counts) - counts  # each text's first shingle in the flat array
        offsets = np.cumsum(lengths) - lengths  # each text's first byte in `joined`
        starts = np.arange(int(counts.sum())) + np.repeat(offsets - first, counts)
        joined = np.frombuffer(b"".join(data), dtype=np.uint8)
        tables, constant = self._crc_tables
        # The crc of the k bytes from every offset of the joined texts (a shingle's byte at each
        # position is a slice of `joined`, no index arithmetic), then the shingles' own offsets:
        # the few offsets whose bytes run into the next text are worked out and dropped.
        offsets_crc = np.full(len(joined) - k + 1, constant, dtype=np.uint32)
        for position in range(k):
            offsets_crc ^= tables[position][joined[position : len(joined) - k + 1 + position]]
        return self._minima(_fmix32(offsets_crc[starts]), first)

    @staticmethod
    def _crc_tables_for(k: int) -> tuple[np.ndarray, np.uint32]:
        """crc32 of a k-byte string x = c XOR T[0][x0] XOR ... XOR T[k-1][x(k-1)], with c the crc
        of k zero bytes and T[j][v] the crc of k zero bytes but v at j, XOR c."""
        constant = zlib.crc32(bytes(k))
        tables = np.array(
            [
                [zlib.crc32(bytes(j) + bytes([v]) + bytes(k - j - 1)) ^ constant for v in range(256)]
                for j in range(k)
            ],
            dtype=np.uint32,
        )
        return tables, np.uint32(constant)

    @staticmethod
    def compact(signature: np.ndarray) -> bytes:
        """The low byte of each permutation's minimum (b-bit minwise hashing, b = 8): what a
        near-duplicate set stores beside each member so candidates can be verified."""
        return signature.astype(np.uint8).tobytes()

    @staticmethod
    def similarity(a: bytes, b: bytes) -> float:
        """Estimated Jaccard of two compact signatures: the share of equal bytes, less the
        1/256 chance that two different minima agree on their low byte. The equal bytes are
        counted in C: the zero bytes of the two signatures XORed as integers."""
        n = len(a)
        if not n or n != len(b):
            return 0.0
        agree = (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(n, "little").count(0) / n
        return max(0.0, (agree - 1 / 256) / (1 - 1 / 256))

    def band_keys(self, signature: np.ndarray) -> list[str]:
        """One key per LSH band: the band's minima as hex (they are already hashes)."""
        raw = signature.astype(np.uint32).tobytes().hex()
        return [f"lsh{i}:{raw[8 * start : 8 * end]}" for i, (start, end) in enumerate(self.hashranges)]

    def batch_keys(self, signatures: np.ndarray) -> list[tuple[list[str], bytes]]:
        """`band_keys` and `compact` of each row of a batch's signatures, converted to hex and
        bytes once for the whole batch (a test keeps them equal to the per-signature ones)."""
        width = signatures.shape[1] if signatures.ndim == 2 else 0
        raw = signatures.astype(np.uint32).tobytes().hex()
        compact = signatures.astype(np.uint8).tobytes()
        ranges = [(f"lsh{i}:", 8 * start, 8 * end) for i, (start, end) in enumerate(self.hashranges)]
        out = []
        for row in range(len(signatures)):
            at = 8 * width * row
            keys = [band + raw[at + start : at + end] for band, start, end in ranges]
            out.append((keys, compact[width * row : width * (row + 1)]))
        return out


# The sketches built in this process, by the parameters that shape them (`_shared_sketch`).
_SKETCHES: dict[tuple[int, float, int, int], NearDuplicateSketch] = {}


def _shared_sketch(params: BehaviourParams) -> NearDuplicateSketch:
    """One sketch per process for each set of the parameters that shape it, shared by every
    tracker (read-only once built). Building one integrates the LSH bands (datasketch, scipy):
    about 25 M instructions, as much as the tracker's work on 300 posts, which every tracker (a
    shard's, a test's) paid again inside its first batch."""
    key = (params.num_perm, params.near_duplicate_jaccard, params.shingle_chars, params.minhash_seed)
    sketch = _SKETCHES.get(key)
    if sketch is None:
        if len(_SKETCHES) >= 8:
            _SKETCHES.clear()
        sketch = _SKETCHES[key] = NearDuplicateSketch(params)
    return sketch


@functools.lru_cache(maxsize=64)
def _equal_bytes_needed(n: int, bar: float) -> int:
    """The fewest equal bytes of two n-byte compact signatures whose `similarity` reaches `bar`
    (n + 1 when none does): the same float arithmetic, so the two never disagree."""
    for equal in range(n + 1):
        if max(0.0, (equal / n - 1 / 256) / (1 - 1 / 256)) >= bar:
            return equal
    return n + 1


def _agrees(a: bytes, b: bytes, need: int) -> bool:
    """Do two compact signatures of one length agree on at least `need` bytes? Byte by byte,
    stopping once enough agree or too many differ: compiled, a byte read is a C primitive of a
    few instructions, where counting the zero bytes of the two signatures XORed as integers
    took three generic method calls (about 3 k instructions) per member checked."""
    n = len(a)
    if need > n:
        return False
    misses = n - need  # how many may differ
    equal = 0
    for i in range(n):
        if a[i] == b[i]:
            equal += 1
            if equal >= need:
                return True
        elif misses:
            misses -= 1
        else:
            return False
    return True


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch's affine32 scheme pre-mixes input hashes."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


@dataclass(frozen=True, slots=True)
class RelabelTarget:
    """An earlier post of a campaign that just crossed the bar."""

    uri: str
    did: str
    rkey: str
    time_us: int


@dataclass(slots=True)
class PostSignals:
    """Signals for one post, as of its event time (field names are the policy's signal names).

    Read-only by convention (`dataclasses.replace` makes a changed copy): not frozen, because
    a frozen dataclass costs three times as much to build, once per post."""

    account_posts_window: int  # posts by this DID in the window, this one included
    account_is_new: bool  # the account was first seen in the stream within `new_account_s`
    campaign_id: str | None  # the strongest group's id once its evidence reaches `campaign_bar`
    campaign_accounts: int  # distinct DIDs that posted this text's fingerprint in the window
    media_reuse_accounts: int  # most distinct DIDs sharing one of this post's blob CIDs
    campaign_new_accounts: int = 0  # new accounts in the strongest group
    campaign_span_s: float = 0.0  # first to last sighting in the strongest group
    campaign_shared_domain: bool = False  # most of the strongest group link one domain
    near_duplicate_accounts: int = 0  # distinct DIDs in this post's best-matching LSH band
    campaign_evidence: float = 0.0  # 0..1, see module docstring
    relabel: tuple[RelabelTarget, ...] = ()  # earlier posts to re-label (this post crossed the bar)
    # The author's account verdict as of this post (accounts/tracker.py): its action and the
    # evidence the post inherits from it (policy accounts.post_weight; 0 when not flagged).
    account_action: str = "none"
    account_evidence: float = 0.0

    # Written out (not generated by `dataclasses`): compiled, mypyc makes a written `__init__` a
    # native constructor, where the generated one runs interpreted. tests/test_records_init.py
    # holds its parameters to the fields, in order, with their defaults.
    def __init__(
        self,
        account_posts_window: int,
        account_is_new: bool,
        campaign_id: str | None,
        campaign_accounts: int,
        media_reuse_accounts: int,
        campaign_new_accounts: int = 0,
        campaign_span_s: float = 0.0,
        campaign_shared_domain: bool = False,
        near_duplicate_accounts: int = 0,
        campaign_evidence: float = 0.0,
        relabel: tuple[RelabelTarget, ...] = (),
        account_action: str = "none",
        account_evidence: float = 0.0,
    ) -> None:
        self.account_posts_window = account_posts_window
        self.account_is_new = account_is_new
        self.campaign_id = campaign_id
        self.campaign_accounts = campaign_accounts
        self.media_reuse_accounts = media_reuse_accounts
        self.campaign_new_accounts = campaign_new_accounts
        self.campaign_span_s = campaign_span_s
        self.campaign_shared_domain = campaign_shared_domain
        self.near_duplicate_accounts = near_duplicate_accounts
        self.campaign_evidence = campaign_evidence
        self.relabel = relabel
        self.account_action = account_action
        self.account_evidence = account_evidence


# A member's first sighting in a set, decoded: (event time µs, new account, link domain, rkey,
# compact MinHash signature: near-duplicate sets only, else b"").
_Sighted = tuple[int, bool, str, str, bytes]

# Decoded member values, shared by every tracker of the process: a value never changes once
# written (the first sighting is kept), the sixteen band sets of a post hold one value, and a
# set is read again by every batch that touches it, so most values decode once. Bounded.
_DECODED: dict[str, _Sighted | None] = {}
DECODED_MAX = 200_000

# A tracker remembers the first sightings it read from the store for this long (seconds of
# wall time) and for this many accounts. The store forgets a first sighting `account_memory_s`
# after writing it (30 days); a remembered one can outlive that by at most FIRST_KNOWN_S.
FIRST_KNOWN_S = 600.0
FIRST_KNOWN_MAX = 200_000


def _encode_member(time_text: str, new: bool, domain: str, rkey: str) -> str:
    return f"{time_text}|{'1' if new else '0'}|{domain}|{rkey}"


def _decode_member(value: str) -> _Sighted | None:
    """A stored member value, decoded once per process (see `_DECODED`)."""
    try:
        return _DECODED[value]
    except KeyError:
        pass
    if len(_DECODED) >= DECODED_MAX:
        _DECODED.clear()
    decoded = _DECODED[value] = _parse_member(value)
    return decoded


def _parse_member(value: str) -> _Sighted | None:
    parts = value.split("|", 4)
    if len(parts) < 4:
        return None
    try:
        sketch = _unhex(parts[4]) if len(parts) == 5 else b""
        return int(parts[0]), parts[1] == "1", parts[2], parts[3], sketch
    except (ValueError, binascii.Error):
        return None


def _unhex(text: str) -> bytes:
    """A signature as stored: hex (what is written now, decoded in C), or the URL-safe base64
    written before (a base64 signature of 32 bytes has an odd length, so it is never hex)."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Group:
    """A campaign candidate as of one post: the members seen in the window ending at it.

    Its id is the key of its set, bucket dropped, worked out when needed (the group became a
    campaign); a near-duplicate group is named after its fullest band: `namer`."""

    __slots__ = ("_key", "members", "namer")

    def __init__(
        self, key: str, members: dict[str, _Sighted], namer: Callable[[], str] | None = None
    ) -> None:
        self._key = key
        self.members = members  # did -> first sighting in range
        self.namer = namer

    @property
    def group_id(self) -> str:
        if self.namer is not None:
            self._key, self.namer = self.namer(), None
        return self._key.split("#", 1)[0]


_NO_ROWS: tuple[list[int], list[tuple[str, _Sighted]]] = ([], [])


class _BatchSets:
    """The sets one batch read, each decoded once and sorted by time (posts then bisect)."""

    __slots__ = ("_members", "sets")

    def __init__(self, sets: dict[str, dict[str, str]]) -> None:
        self.sets = sets
        self._members: dict[str, tuple[list[int], list[tuple[str, _Sighted]]]] = {}

    def members(self, key: str) -> tuple[list[int], list[tuple[str, _Sighted]]]:
        """(sorted sighting times, [(did, sighting)] in that order) of a member set."""
        cached = self._members.get(key)
        if cached is None:
            values = self.sets.get(key)
            if not values:
                cached = _NO_ROWS
            else:
                decoded = _DECODED
                rows = []
                for did, value in values.items():
                    member = decoded.get(value) or _decode_member(value)
                    if member is not None:
                        rows.append((did, member))
                if len(rows) > 1:
                    rows.sort(key=_sighting_time)
                cached = ([member[0] for _, member in rows], rows)
            self._members[key] = cached
        return cached

    def times(self, keys: Iterable[str]) -> list[int]:
        """Sorted sighting times in the sets under `keys`, whose values are plain event times
        (an account's posts, each account's keys read once per batch)."""
        sets = self.sets
        values: list[str] = []
        for key in keys:
            found = sets.get(key)
            if found:
                values += found.values()
        try:
            return sorted(map(int, values))
        except ValueError:  # not written by this tracker: what is not an event time is skipped
            return sorted(int(v) for v in values if v.isdigit())


_EMPTY: dict[str, str] = {}
# Eight ASCII digits read as one little-endian uint64 (the first, most significant, in the low
# byte) become their number in three steps, each joining neighbouring lanes: 2 digits, 4, 8.
_LANES = (
    (np.uint64(10), np.uint64(8), np.uint64(0x00FF00FF00FF00FF)),
    (np.uint64(100), np.uint64(16), np.uint64(0x0000FFFF0000FFFF)),
    (np.uint64(10_000), np.uint64(32), np.uint64(0x00000000FFFFFFFF)),
)
_HIGH_EIGHT = np.uint64(100_000_000)


def _event_times(values: list[str]) -> np.ndarray | None:
    """The int64 of each value, all plain decimal event times (what this tracker writes), or
    None when one is not (then `int` decides, one by one).

    A batch reads thousands of stored times (about 2,000 in bench_behaviour), and `int` of a
    string costs about 0.2 µs. Times of one width up to 16 digits (every µs event time since
    2001 has 16) are parsed together: each left-padded with zeros to 16 and followed by a
    newline, all joined, their bytes a matrix of one 17-byte row per value, checked (digits
    before, a newline at the end of every row: so every value has that width), and each row's
    two halves of eight digits turned into numbers by SWAR steps on uint64 lanes (`_LANES`)."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    width = len(values[0])
    if 0 < width <= 16:
        pad = "0" * (16 - width)
        joined = pad + ("\n" + pad).join(values) + "\n"
        if len(joined) == 17 * len(values) and joined.isascii():
            rows = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(-1, 17)
            digits = np.ascontiguousarray(rows[:, :16] - np.uint8(48))  # under "0" wraps past 9
            # Every row's newline at its end and only digits before it: every value is `width`
            # digits (a shorter or longer one would put a newline among some row's digits).
            if int(digits.max()) <= 9 and bool((rows[:, 16] == 10).all()):
                lanes = digits.view("<u8")  # two of eight digits per row
                for scale, shift, mask in _LANES:
                    lanes = (lanes * scale + (lanes >> shift)) & mask
                return (lanes[:, 0] * _HIGH_EIGHT + lanes[:, 1]).astype(np.int64)
    try:
        return np.fromiter(map(int, values), dtype=np.int64, count=len(values))
    except (ValueError, OverflowError):
        return None


def _sighting_time(row: tuple[str, _Sighted]) -> int:
    return row[1][0]


class BehaviorTracker:
    """Behaviour over the stream, counted in a state store shared by every shard."""

    def __init__(self, store: StateStore | None = None, params: BehaviourParams | None = None) -> None:
        self.store: StateStore = store if store is not None else MemoryStateStore()
        self.params = params or BehaviourParams.default()
        self.window_us = int(self.params.window_s * 1_000_000)
        self.bucket_us = 2 * self.window_us
        self._sketch: NearDuplicateSketch | None = None
        self._first_known: dict[str, int] = {}  # did -> first sighting as read from the store
        self._first_known_until = 0.0  # monotonic time at which `_first_known` is emptied

    @property
    def sketch(self) -> NearDuplicateSketch:
        """The policy's MinHash permutations and LSH bands, built on first use (datasketch works
        the bands out by integration) and shared by the process's trackers (`_shared_sketch`).
        A plain attribute, not a `cached_property`: compiled by mypyc, a class has no instance
        `__dict__` and a cached_property would recompute on every access (docs/performance.md)."""
        if self._sketch is None:
            self._sketch = _shared_sketch(self.params)
        return self._sketch

    def retune(self, params: BehaviourParams) -> None:
        """Follow a new policy version between batches (hot reload): windows, bars and weights
        apply to the counts already in the store at once; a new `window_s` buckets keys anew,
        so the windowed counts start afresh from the switch (the old buckets expire)."""
        if params == self.params:
            return
        sketch_changed = (
            params.num_perm,
            params.near_duplicate_jaccard,
            params.shingle_chars,
            params.minhash_seed,
        ) != (
            self.params.num_perm,
            self.params.near_duplicate_jaccard,
            self.params.shingle_chars,
            self.params.minhash_seed,
        )
        self.params = params
        self.window_us = int(params.window_s * 1_000_000)
        self.bucket_us = 2 * self.window_us
        if sketch_changed:
            self._sketch = None

    def observe(self, post: Post) -> PostSignals:
        return self.observe_batch([post])[0]

    def observe_batch(
        self, posts: Sequence[Post], texts: Mapping[str, TextForms] | None = None
    ) -> list[PostSignals]:
        """Record the posts and return each one's signals (at most four store calls per batch).
        `texts`: the shared forms of the posts' texts, by text (`canonical.batch_forms`, built
        once per batch by `PostScorer`); without it each text is folded through `fold_text`.

        The garbage collector waits for the batch to end (`batch_gc`): a collection in between
        would promote the batch's temporaries and make the next full collection walk the whole
        heap (a fifth of the tracker's CPU in bench_behaviour)."""
        if not posts:
            return []
        with collector_paused():
            return self._observe_batch(posts, texts)

    def _observe_batch(
        self, posts: Sequence[Post], texts: Mapping[str, TextForms] | None
    ) -> list[PostSignals]:
        """Most posts join no group (no link, mention or media, or too short a text): their
        signals are the account's post count and newness alone, and posts with equal ones
        share one `PostSignals` (read-only by convention)."""
        p = self.params
        post_times = [post.time_us for post in posts]
        dids = [post.did for post in posts]
        first_seen = self._first_seen(dids, post_times)
        window_us, bucket_us, new_us = self.window_us, self.bucket_us, p.new_account_s * 1_000_000
        min_chars, sketch = p.min_chars, self.sketch

        # Texts joining groups, folded; their MinHash signatures in one numpy pass.
        folded: dict[int, str] = {}
        pushing: list[int] = []  # the posts with a link, mention or media: only they join groups
        for i, post in enumerate(posts):
            if post.links or post.mentions or post.media_cids:
                pushing.append(i)
                text = texts[post.text].folded if texts is not None else fold_text(post.text)
                if len(text) >= min_chars:
                    folded[i] = text
        near = [i for i in folded if posts[i].links or not p.near_duplicate_links_only]
        near_keys: dict[int, tuple[list[str], bytes]] = {}  # the post's band keys, compact signature
        if near:
            sigs = sketch.text_signatures([folded[i] for i in near])
            near_keys = dict(zip(near, sketch.batch_keys(sigs), strict=True))

        # One pass over the batch: every post's acct key (its author's posts in its current
        # bucket), its time as text, its newness, whether its window reaches into the bucket
        # before (t lies less than a window into its own bucket: buckets are twice the window,
        # so half the posts), and per account the acct keys its posts' windows reach and its
        # place among the batch's accounts. (Compiled, one loop costs a fraction of the dozen
        # comprehensions it replaced, each of which boxed and unboxed every time; `%`, not
        # `- bucket * bucket_us`: mypyc multiplies on its fast path only below 2**30.)
        # The batch's sightings are the store's runs (`SightingRuns`): each post's acct sighting
        # (its rkey, its time), then per post that joins groups its fp, band and image sets, the
        # sixteen bands one run of the post's account and near-duplicate value.
        set_keys: list[str] = []  # first every post's acct key
        set_members: list[str] = []
        time_texts: list[str] = []  # every post's time as text: the acct sightings' values
        set_runs = [1] * len(posts)
        news: list[bool] = []
        spans_of: list[tuple[str, ...]] = []  # ("#<bucket>",), and "#<bucket before>" if reached
        places: dict[str, int] = {}  # account -> its place among the batch's accounts
        acct_keys: list[list[str]] = []  # by place: the acct keys the account's windows reach
        # By place, the bucket of the account's last post and its keys there (the bucket
        # before's "" until a post reaches it): a later post in that bucket (a third of a
        # batch's posts) reuses them, built, hashed and listed once.
        key_buckets: list[int] = []
        current_keys: list[str] = []
        back_keys: list[str] = []
        accounts: list[int] = []  # each post's account's place
        wanted: set[str] = set()
        current = back = ""
        one: tuple[str, ...] = ()
        both: tuple[str, ...] = ()
        last_bucket = 0
        for i, post in enumerate(posts):
            time_us, did = post_times[i], dids[i]
            bucket = time_us // bucket_us
            if not one or bucket != last_bucket:
                current, back, last_bucket = f"#{bucket}", f"#{bucket - 1}", bucket
                one, both = (current,), (current, back)
            place = places.get(did)
            if place is None:
                place = places[did] = len(acct_keys)
                key = f"acct:{did}{current}"
                account_keys = [key]
                acct_keys.append(account_keys)
                key_buckets.append(bucket)
                current_keys.append(key)
                back_keys.append("")
                wanted.add(key)
            else:
                account_keys = acct_keys[place]
                if key_buckets[place] == bucket:
                    key = current_keys[place]
                else:
                    key = f"acct:{did}{current}"
                    if key not in account_keys:  # one or two keys: compared, not hashed again
                        account_keys.append(key)
                    key_buckets[place], current_keys[place], back_keys[place] = bucket, key, ""
                    wanted.add(key)
            set_keys.append(key)
            set_members.append(post.rkey)
            time_texts.append(str(time_us))
            news.append(time_us - first_seen[did] <= new_us)
            accounts.append(place)
            if time_us % bucket_us < window_us:
                if not back_keys[place]:
                    key = back_keys[place] = f"acct:{did}{back}"
                    if key not in account_keys:
                        account_keys.append(key)
                    wanted.add(key)
                spans_of.append(both)
            else:
                spans_of.append(one)
        set_values = time_texts  # grows past the acct sightings below; time_texts[i] stays
        # Per post that joins groups: its fp and media (per image) keys, each the current
        # bucket first, and its lsh keys (the current bucket's sixteen bands, then the one
        # before's).
        group_keys: dict[int, tuple[list[str], list[list[str]], list[list[str]], bytes]] = {}
        # Per such post, what its sets hold if it is alone in every group (`_alone`): its
        # member value, and its near-duplicate one (with the signature).
        own_values: dict[int, tuple[str, str]] = {}
        for i in pushing:
            post = posts[i]
            did, time_text, spans = dids[i], time_texts[i], spans_of[i]
            fp_keys: list[str] = []
            lsh_keys: list[list[str]] = []
            media_keys: list[list[str]] = []
            compact = b""
            near_member = ""
            member = _encode_member(
                time_text,
                news[i],
                _site(post.domains[0]) if post.domains else "",
                post.rkey,
            )
            folded_text = folded.get(i)
            if folded_text is not None:
                fp = f"fp:{_digest(folded_text.encode('utf-8', 'replace'))}"
                fp_keys = [fp + span for span in spans]
                set_keys.append(fp_keys[0])
                set_members.append(did)
                set_values.append(member)
                set_runs.append(1)
                wanted.update(fp_keys)
            banded = near_keys.get(i)
            if banded is not None:
                bands, compact = banded
                near_member = f"{member}|{compact.hex()}"
                lsh_keys = [[band + span for band in bands] for span in spans]
                set_keys += lsh_keys[0]
                set_members.append(did)
                set_values.append(near_member)
                set_runs.append(len(bands))
                for keys in lsh_keys:
                    wanted.update(keys)
            if post.media_cids:
                for cid in dict.fromkeys(post.media_cids):
                    keys = [f"media:{cid}{span}" for span in spans]
                    media_keys.append(keys)
                    set_keys.append(keys[0])
                    set_members.append(did)
                    set_values.append(member)
                    set_runs.append(1)
                    wanted.update(keys)
            if fp_keys or media_keys:
                group_keys[i] = (fp_keys, lsh_keys, media_keys, compact)
                own_values[i] = (member, near_member)

        self.store.add_members(SightingRuns(set_keys, set_members, set_values, set_runs), ttl_s=p.set_ttl_s)
        sets = _BatchSets(self.store.get_members(wanted, ttl_s=p.set_ttl_s))

        counts = self._account_posts(posts, post_times, acct_keys, accounts, sets)
        # Posts in no group share one PostSignals per (post count, newness); then each post
        # that joins groups gets its own, in batch order.
        lone: dict[int, PostSignals] = {}
        out: list[PostSignals] = []
        for count, new in zip(counts, news, strict=True):
            lone_key = 2 * count + 1 if new else 2 * count
            shared = lone.get(lone_key)
            if shared is None:
                shared = lone[lone_key] = PostSignals(
                    account_posts_window=count,
                    account_is_new=new,
                    campaign_id=None,
                    campaign_accounts=0,
                    media_reuse_accounts=0,
                )
            out.append(shared)
        # Most posts that join groups are alone in every one (a text, image or wording nobody
        # else posted in the window): their groups count only themselves, no evidence, and
        # their signals need no group worked out (`_alone_signals`).
        held = sets.sets.keys()
        alone_signals: dict[tuple[int, bool, bool, bool, bool], PostSignals] = {}
        for i, grouped in group_keys.items():
            if p.campaign_bar > 0 and self._alone(dids[i], own_values[i], grouped, sets.sets, held):
                fp_keys, lsh_keys, media_keys, _ = grouped
                shape = (counts[i], news[i], bool(fp_keys), bool(lsh_keys), bool(media_keys))
                shared = alone_signals.get(shape)
                if shared is None:
                    shared = alone_signals[shape] = self._alone_signals(*shape)
                out[i] = shared
                continue
            out[i] = self._signals(posts[i], counts[i], news[i], grouped, sets)
        return out

    @staticmethod
    def _alone(
        did: str,
        values: tuple[str, str],
        keys: tuple[list[str], list[list[str]], list[list[str]], bytes],
        raw: dict[str, dict[str, str]],
        held: KeysView[str],
    ) -> bool:
        """Is the post alone in every group it joins: each of its current bucket's sets holds
        only its author with the very sighting it just wrote, and the bucket before holds none
        of its keys? Then each group is its author's one sighting at the post's own time (in
        the window, its own signature), whatever shard wrote what. Compared in C."""
        member, near_member = values
        fp_keys, lsh_keys, media_keys, _ = keys
        own = {did: member}
        if fp_keys and (raw.get(fp_keys[0]) != own or (len(fp_keys) > 1 and fp_keys[1] in held)):
            return False
        for image_keys in media_keys:
            if raw.get(image_keys[0]) != own or (len(image_keys) > 1 and image_keys[1] in held):
                return False
        if lsh_keys:
            near_own = {did: near_member}
            for band in lsh_keys[0]:
                if raw.get(band) != near_own:
                    return False
            if len(lsh_keys) > 1 and not held.isdisjoint(lsh_keys[1]):
                return False
        return True

    @staticmethod
    def _alone_signals(account_posts: int, is_new: bool, text: bool, near: bool, image: bool) -> PostSignals:
        """`_signals` of a post alone in its groups (`_alone`): each group is one account (the
        post's), under `min_accounts`, so no evidence, no campaign, nothing to re-label; the
        strongest group is the first one (text, else image), whose one account is new when
        the post's is."""
        return PostSignals(
            account_posts_window=account_posts,
            account_is_new=is_new,
            campaign_id=None,
            campaign_accounts=int(text),
            media_reuse_accounts=int(image),
            campaign_new_accounts=int(is_new),
            campaign_span_s=0.0,
            campaign_shared_domain=False,
            near_duplicate_accounts=int(near),
            campaign_evidence=0.0,
            relabel=(),
        )

    def _account_posts(
        self,
        posts: Sequence[Post],
        post_times: list[int],
        acct_keys: list[list[str]],
        accounts: list[int],
        sets: _BatchSets,
    ) -> list[int]:
        """Each post's author's posts in its window (at least 1: the post itself).

        An account's times in every bucket its batch's windows cover serve each of its posts:
        a bucket outside a post's window holds only times outside it (before t - window or
        after t). All accounts' times go into one sorted numpy array, keyed (account, time), and
        every post's window is two binary searches in it, for the whole batch at once."""
        window_us = self.window_us
        owners: list[int] = []
        values: list[str] = []
        raw = sets.sets
        for keys in acct_keys:
            before = len(values)
            for key in keys:
                found = raw.get(key)
                if found:
                    values += found.values()
            owners.append(len(values) - before)
        times = _event_times(values)
        if times is None:  # not all written by this tracker: the slow path
            return self._account_posts_one_by_one(posts, acct_keys, accounts, sets)
        # Times count from below every time and window start, and must fit in 44 bits.
        origin = min(post_times) - window_us - 1
        latest = max(post_times)
        if len(times):
            origin = min(origin, int(times.min()) - 1)
            latest = max(latest, int(times.max()))
        if latest - origin >= 1 << 44:
            return self._account_posts_one_by_one(posts, acct_keys, accounts, sets)
        keyed = np.sort((np.repeat(np.arange(len(owners), dtype=np.int64), owners) << 44) | (times - origin))
        owner_of = np.array(accounts, dtype=np.int64) << 44  # each post's account's place
        high = owner_of | (np.array(post_times, dtype=np.int64) - origin)
        counts = np.searchsorted(keyed, high, "right") - np.searchsorted(keyed, high - window_us, "right")
        return np.maximum(counts, 1).tolist()

    def _account_posts_one_by_one(
        self, posts: Sequence[Post], acct_keys: list[list[str]], accounts: list[int], sets: _BatchSets
    ) -> list[int]:
        """`_account_posts` in Python, for sets holding values that are not event times or
        batches whose times span more than the numpy keys hold (about 200 days)."""
        acct_times: dict[int, list[int]] = {}
        counts = []
        for post, place in zip(posts, accounts, strict=True):
            high = post.time_us
            times = acct_times.get(place)
            if times is None:
                times = acct_times[place] = sets.times(acct_keys[place])
            counts.append(max(1, bisect_right(times, high) - bisect_right(times, high - self.window_us)))
        return counts

    def _first_seen(self, dids: list[str], post_times: list[int]) -> dict[str, int]:
        """Each account's first sighting in the stream (event time, µs); new ones are recorded.

        A first sighting read from the store never changes while the store keeps it (the first
        value is kept), so the tracker remembers what it read for `FIRST_KNOWN_S` and reads
        only the accounts it has not seen lately: most of a batch's accounts posted before.
        (What it wrote itself is read back once: another shard may have written first.)"""
        earliest: dict[str, int] = {}
        for did, time_us in zip(dids, post_times, strict=True):
            seen_us = earliest.get(did)
            if seen_us is None or time_us < seen_us:
                earliest[did] = time_us
        known = self._first_known
        now = time.monotonic()
        if now >= self._first_known_until or len(known) >= FIRST_KNOWN_MAX:
            known.clear()
            self._first_known_until = now + FIRST_KNOWN_S
        first: dict[str, int] = {}
        unknown = []
        for did, time_us in earliest.items():
            stored_us = known.get(did)
            if stored_us is None:
                unknown.append(did)
            else:
                first[did] = stored_us if stored_us <= time_us else time_us
        if not unknown:
            return first
        keys = [f"first:{did}" for did in unknown]
        stored = self.store.get_members(keys, ttl_s=self.params.account_memory_s)
        missing: list[SightingRow] = []
        for did, key in zip(unknown, keys, strict=True):
            time_us = earliest[did]
            value = stored.get(key, _EMPTY).get("t")
            if value is None:
                missing.append((key, "t", str(time_us)))
                first[did] = time_us
                continue
            try:
                stored_us = int(value)
            except ValueError:
                first[did] = time_us
                continue
            known[did] = stored_us
            first[did] = stored_us if stored_us <= time_us else time_us
        if missing:
            self.store.add_members(missing, ttl_s=self.params.account_memory_s)
        return first

    # -- signals of one post ------------------------------------------------------------
    def _window(self, keys: list[str], sets: _BatchSets, post: Post) -> _Group:
        """Members of the sets under `keys` first seen in (t - window, t], earliest sighting kept.

        `keys` are one set's current bucket and, when the window reaches into it, the one before:
        every sighting in the earlier bucket is earlier than any in the current one, so dict
        merges (in C) keep the earliest."""
        low, high = post.time_us - self.window_us, post.time_us
        members: dict[str, _Sighted] | None = None
        raw = sets.sets
        for key in keys:
            values = raw.get(key)
            if not values:
                continue
            if len(values) == 1:  # most texts and images: one account (decoded, no sorting)
                for did, value in values.items():
                    m = _DECODED.get(value) or _decode_member(value)
                    if m is not None and low < m[0] <= high:
                        if members is None:
                            members = {did: m}
                        else:
                            members[did] = m
                continue
            times, rows = sets.members(key)
            if times and times[0] <= high and times[-1] > low:
                window = rows[bisect_right(times, low) : bisect_right(times, high)]
                if members is None:
                    members = dict(window)
                else:
                    members.update(window)  # the earlier bucket's sightings replace the later ones
        return _Group(keys[0], {} if members is None else members)

    def _near_group(
        self, lsh_keys: list[list[str]], sets: _BatchSets, post: Post, sketch: bytes = b""
    ) -> _Group:
        """The accounts sharing any LSH band with the post in the window (earliest sighting
        kept) whose stored signature confirms the similarity (estimated Jaccard at least
        `near_duplicate_jaccard`: bands tuned for recall also collide unrelated posts), named
        after its fullest band, the one a campaign's posts most often share.
        `lsh_keys` are the current bucket's keys of the sixteen bands, then (when the window
        reaches into it) the bucket before's.

        A campaign's bands mostly hold the same accounts with the same values: a band's set
        equal to the band's before it is skipped (compared in C), and each account's value is
        gathered once (a set of the (account, value) pairs cost twice as much), so each
        distinct pair is decoded and weighed once, not once per band."""
        low, high = post.time_us - self.window_us, post.time_us
        raw = sets.sets
        found: dict[str, str] = {}  # each account's value in the first band holding it
        others: list[tuple[str, str]] = []  # (account, another value of it) in later bands
        last: dict[str, str] | None = None
        for span_keys in lsh_keys:
            for key in span_keys:
                values = raw.get(key)
                if not values or values is last or values == last:
                    continue
                last = values
                for did, value in values.items():
                    known = found.setdefault(did, value)
                    if known is not value and known != value:
                        others.append((did, value))
        # Each account's earliest sighting in the window (ties: the smaller value).
        merged: dict[str, _Sighted] = {}
        decoded = _DECODED
        for did, value in found.items():
            m = decoded.get(value) or _decode_member(value)
            if m is not None and low < m[0] <= high:
                merged[did] = m
        for did, value in others:
            m = decoded.get(value) or _decode_member(value)
            if m is not None and low < m[0] <= high:
                known_m = merged.get(did)
                if known_m is None or m < known_m:
                    merged[did] = m
        group = _Group(lsh_keys[0][0], merged, namer=lambda: self._fullest_band(lsh_keys, sets, post))
        if not merged or not sketch:
            return group
        # A member written before sets carried signatures cannot be checked: it counts, as then.
        # An equal signature (the post itself, a copy of its text) is similarity 1 (bar < 1);
        # the others need enough equal bytes (`similarity` at least the bar: `_agrees`).
        n = len(sketch)
        need = _equal_bytes_needed(n, self.params.near_duplicate_jaccard)
        group.members = {
            did: m
            for did, m in merged.items()
            if m[4] == sketch or not m[4] or (len(m[4]) == n and _agrees(sketch, m[4], need))
        }
        return group

    def _fullest_band(self, lsh_keys: list[list[str]], sets: _BatchSets, post: Post) -> str:
        """The band holding the most accounts in the post's window (its near-duplicate group's name)."""
        low, high = post.time_us - self.window_us, post.time_us
        best_key, best_n = lsh_keys[0][0], -1
        for band, key in enumerate(lsh_keys[0]):
            times, rows = sets.members(key)
            start, end = bisect_right(times, low), bisect_right(times, high)
            if len(lsh_keys) == 1:  # a set holds each account once: its rows in the window
                accounts = end - start
            else:
                found = {did for did, _ in rows[start:end]}
                for span_keys in lsh_keys[1:]:
                    times, rows = sets.members(span_keys[band])
                    for did, _ in rows[bisect_right(times, low) : bisect_right(times, high)]:
                        found.add(did)
                accounts = len(found)
            if accounts > best_n:
                best_key, best_n = key, accounts
        return best_key.split("#", 1)[0]

    def _evidence(self, members: Collection[_Sighted]) -> tuple[float, int, float, bool]:
        """(evidence, new accounts, span in seconds, shared domain) of a group's members.

        One pass over the members (groups are small: a few accounts, dozens in a campaign):
        compiled, a loop over the tuples costs a fraction of transposing them with `zip(*...)`
        and calling `sum`, `min`, `max`, `set` and `Counter` on the columns."""
        p = self.params
        n = len(members)
        new = 0
        if n < p.min_accounts:
            for m in members:
                if m[1]:
                    new += 1
            return 0.0, new, 0.0, False
        first = last = 0
        started = False
        top = 0  # the accounts linking the most linked domain
        domains: dict[str, int] = {}
        for m in members:
            t = m[0]
            if not started:
                first = last = t
                started = True
            elif t < first:
                first = t
            elif t > last:
                last = t
            if m[1]:
                new += 1
            domain = m[2]
            if domain:
                count = domains.get(domain, 0) + 1
                domains[domain] = count
                if count > top:
                    top = count
        span_s = (last - first) / 1_000_000
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

    def _signals(
        self,
        post: Post,
        account_posts: int,
        is_new: bool,
        keys: tuple[list[str], list[list[str]], list[list[str]], bytes],
        sets: _BatchSets,
    ) -> PostSignals:
        """Signals of a post that joins groups: its text's, near-duplicates' and images'."""
        fp_keys, lsh_keys, media_keys, sketch = keys
        groups: list[_Group] = []
        fp_group = self._window(fp_keys, sets, post) if fp_keys else None
        if fp_group is not None:
            groups.append(fp_group)
        near_group = self._near_group(lsh_keys, sets, post, sketch) if lsh_keys else None
        if near_group is not None:
            groups.append(near_group)
        media_group = None
        for image_keys in media_keys:
            image = self._window(image_keys, sets, post)
            if media_group is None or len(image.members) > len(media_group.members):
                media_group = image
        if media_group is not None:
            groups.append(media_group)

        best: tuple[float, int, float, bool] = (0.0, 0, 0.0, False)
        best_group: _Group | None = None
        relabel: dict[str, RelabelTarget] = {}
        bar = self.params.campaign_bar
        for group in groups:
            scored = self._evidence(group.members.values())
            if best_group is None or scored[0] > best[0]:
                best, best_group = scored, group
            if scored[0] >= bar:
                self._crossing(post, group, relabel)

        evidence, new, span_s, shared = best
        campaign_id = None
        if best_group is not None and evidence >= bar:
            campaign_id = best_group.group_id.removeprefix("fp:")
        return PostSignals(
            account_posts_window=account_posts,
            account_is_new=is_new,
            campaign_id=campaign_id,
            campaign_accounts=len(fp_group.members) if fp_group else 0,
            media_reuse_accounts=len(media_group.members) if media_group else 0,
            campaign_new_accounts=new,
            campaign_span_s=round(span_s, 3) if span_s else span_s,  # `round` costs 3 k compiled
            campaign_shared_domain=shared,
            near_duplicate_accounts=len(near_group.members) if near_group else 0,
            campaign_evidence=round(evidence, 4) if evidence else evidence,
            relabel=tuple(relabel.values()),
        )

    def _crossing(self, post: Post, group: _Group, relabel: dict[str, RelabelTarget]) -> None:
        """If the group's evidence crossed the bar at this very post, collect its earlier posts.

        "Before this post" is every member sighted strictly earlier (ties by DID), so exactly
        one post of a campaign is the crossing one, whichever shard scores it.
        """
        mine_us, mine_did = post.time_us, post.did
        dids: list[str] = []
        earlier: list[_Sighted] = []
        for did, m in group.members.items():
            t = m[0]
            if t < mine_us or (t == mine_us and did < mine_did):
                dids.append(did)
                earlier.append(m)
        if self._evidence(earlier)[0] >= self.params.campaign_bar:
            return
        for time_us, did, m in sorted(zip([m[0] for m in earlier], dids, earlier, strict=True)):
            uri = f"at://{did}/{POST_COLLECTION}/{m[3]}"
            relabel.setdefault(uri, RelabelTarget(uri, did, m[3], time_us))
