"""Hashed n-gram features for a whole batch of texts at once, with numpy only.

Why this shape: the scorer must keep up with the firehose on one core (20k posts/s), which
per-token Python loops cannot do. Every text in a batch is lower-cased (ASCII) and UTF-8
encoded into one byte buffer; polynomial hashes of byte n-grams and of word tokens (and
word bigrams) are computed with vectorised uint64 arithmetic (wrapping mod 2**64), mixed,
and folded into `2**bits` buckets. A handful of trust-and-safety "meta" features (URL count,
phone-number-like digit runs, currency symbols, ALL CAPS ratio, length) are added as
one-hot buckets in the same space.

The same function feeds training (as a sparse matrix, see `training.py`) and scoring (a
gather of weights and a per-document segment sum, see `text_model.py`), so the two can
never disagree. With `FeatureConfig.canonical` the texts are first read through
`canonical.model_view`, so obfuscated spellings share features with plain ones. Only numpy
(and, for that view, `regex` and the UTS #39 data) is needed here: this module also ships
inside the SageMaker model archive.

Bucket 0 is reserved: n-grams that would cross from one text into the next are sent
there, and its weight is always 0.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fraud_pipeline.scoring.canonical import model_views

_P = np.uint64(0x100000001B3)  # FNV-64 prime: the polynomial base for rolling hashes
_P_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_M1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64 finaliser constants
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)

# Salts keep the feature families apart in the one hashed space.
_SALT_CHAR = 0x9E3779B97F4A7C15
_SALT_WORD = 0xC2B2AE3D27D4EB4F
_SALT_BIGRAM = 0x165667B19E3779F9


@dataclass(frozen=True)
class FeatureConfig:
    """What goes into the hashed feature space; stored in every artifact."""

    bits: int = 20
    char_min: int = 2
    char_max: int = 5
    word_bigrams: bool = True
    max_bytes: int = 2048  # per text; a 100,000-character post is scored on its head
    char_weight: float = 1.0  # each family is L2-normalised (idf-weighted), then scaled
    word_weight: float = 1.0
    meta_weight: float = 0.25
    meta: bool = True
    # Read each text through `canonical.model_view` (lookalikes, invisible characters,
    # full-width letters, spaced-out letters and leetspeak undone). Off in older artifacts.
    canonical: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class FeatureGroup:
    """One feature family of a batch: bucket index per entry, entries grouped by document.

    Entries of document d are `index[starts[d]:starts[d + 1]]` (possibly none), so per-document
    sums are one `np.add.reduceat` over the whole batch.
    """

    index: np.ndarray  # int64 bucket per entry (0 = ignored)
    starts: np.ndarray  # int64 first entry of each document

    def counts(self) -> np.ndarray:
        return np.diff(np.append(self.starts, len(self.index)))

    def doc_ids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.starts)), self.counts())

    def segment_sum(self, values: np.ndarray) -> np.ndarray:
        """Per-document sums of per-entry `values` (shape (entries,) or (entries, k))."""
        n_docs = len(self.starts)
        if len(values) == 0:
            return np.zeros((n_docs, *values.shape[1:]), dtype=values.dtype)
        counts = self.counts()
        summed = np.add.reduceat(values, np.minimum(self.starts, len(values) - 1), axis=0)
        summed[counts == 0] = 0
        return summed


@dataclass
class Features:
    n_docs: int
    groups: list[FeatureGroup] = field(default_factory=list)


class _Powers:
    """Cached P**i and P**-i (mod 2**64) for prefix hashes; grows as batches grow."""

    def __init__(self) -> None:
        self.pow: np.ndarray = np.ones(1, dtype=np.uint64)
        self.inv: np.ndarray = np.ones(1, dtype=np.uint64)

    def ensure(self, n: int) -> None:
        if len(self.pow) >= n:
            return
        size = max(n, 2 * len(self.pow), 1 << 16)
        with np.errstate(over="ignore"):
            self.pow = np.cumprod(np.full(size, _P, dtype=np.uint64))
            self.pow = np.concatenate([np.ones(1, dtype=np.uint64), self.pow[:-1]])
            self.inv = np.cumprod(np.full(size, _P_INV, dtype=np.uint64))
            self.inv = np.concatenate([np.ones(1, dtype=np.uint64), self.inv[:-1]])


_POWERS = _Powers()


def _mix(h: np.ndarray, salt: int, bits: int) -> np.ndarray:
    """splitmix64 finaliser of `h ^ salt`, folded to a bucket in [0, 2**bits)."""
    x = h ^ np.uint64(salt)
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return (x >> np.uint64(64 - bits)).astype(np.int64)


def named_bucket(name: str, bits: int) -> int:
    """Bucket of a named meta feature (stable across processes and machines)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "little") >> (64 - bits)
    return bucket or 1


def _encode(texts: Sequence[object], max_bytes: int) -> list[bytes]:
    """UTF-8 bytes of each text; non-strings (None, numbers) become their str(), None ''."""
    out = []
    for text in texts:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        out.append(text.encode("utf-8", "surrogatepass")[:max_bytes])
    return out


_URL_MARKERS = (b"http", b"www.", b".com", b".io/", b".xyz", b"t.me/", b"bit.ly")
_CURRENCY_BYTES = (b"$", "£".encode(), "€".encode(), "₿".encode())


def featurize(texts: Sequence[object], config: FeatureConfig) -> Features:
    """Hashed features of every text in the batch (see the module docstring)."""
    n_docs = len(texts)
    if n_docs == 0:
        return Features(0, [])
    if config.canonical:
        texts = model_views(texts)
    encoded = _encode(texts, config.max_bytes)
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n_docs) + 2  # one space each side
    raw_bytes = b" " + b"  ".join(encoded) + b" " + b" " * config.char_max
    raw = np.frombuffer(raw_bytes, dtype=np.uint8)
    buf = np.frombuffer(raw_bytes.lower(), dtype=np.uint8)  # bytes.lower(): ASCII only, same length
    starts = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    ends = starts + lengths
    total = int(ends[-1])

    groups = [_char_group(buf, starts, ends, lengths, config)]
    groups.append(_word_group(buf, starts, total, config))
    if config.meta:
        groups.append(_meta_group(raw, buf, starts, ends, lengths, config))
    return Features(n_docs, groups)


def _char_group(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, lengths: np.ndarray, config: FeatureConfig
) -> FeatureGroup:
    """Byte n-grams (char_min..char_max) by a rolling hash, contiguous per document."""
    values = buf.astype(np.uint64) + np.uint64(1)
    size = len(buf)
    indices = []
    h = values
    with np.errstate(over="ignore"):
        for n in range(2, config.char_max + 1):
            h = h[:-1] * _P + values[n - 1 :]
            if n < config.char_min:
                continue
            idx = _mix(h, _SALT_CHAR + n, config.bits)
            # n-grams starting in a document's last n-1 bytes run into the next one.
            cut = (ends[:, None] - np.arange(1, n)[None, :]).ravel()
            idx[cut[(cut >= 0) & (cut < len(idx))]] = 0
            idx[int(ends[-1]) - n + 1 :] = 0
            indices.append(idx)
    if config.char_min <= 1:
        indices.insert(0, _mix(values[: size - 1], _SALT_CHAR + 1, config.bits))
    # Lay the n-gram families out document by document so each document is one segment.
    per_n = [idx[: int(ends[-1])] for idx in indices]
    index = np.stack(per_n, axis=1).reshape(-1)  # position-major: doc segments stay contiguous
    return FeatureGroup(index=index, starts=starts * len(per_n))


def _word_group(buf: np.ndarray, starts: np.ndarray, total: int, config: FeatureConfig) -> FeatureGroup:
    """Word unigrams and bigrams (runs of ASCII letters/digits or non-ASCII bytes).

    Bigram k (tokens k and k+1) sits right after unigram k, so entries stay in document order.
    """
    n_docs = len(starts)
    b = buf[: total + 1]
    is_word = (b >= 128) | ((b >= 97) & (b <= 122)) | ((b >= 48) & (b <= 57))
    edges = np.diff(is_word.astype(np.int8))
    tok_start = np.flatnonzero(edges == 1) + 1
    tok_end = np.flatnonzero(edges == -1) + 1
    n_tok = len(tok_start)
    if n_tok == 0:
        return FeatureGroup(index=np.zeros(0, dtype=np.int64), starts=np.zeros(n_docs, dtype=np.int64))
    _POWERS.ensure(total + 2)
    with np.errstate(over="ignore"):
        prefix = np.zeros(total + 2, dtype=np.uint64)
        np.cumsum((b.astype(np.uint64) + np.uint64(1)) * _POWERS.pow[: total + 1], out=prefix[1:])
        word_hash = (prefix[tok_end] - prefix[tok_start]) * _POWERS.inv[tok_start]
        tok_doc = np.searchsorted(starts, tok_start, side="right") - 1
        first_tok = np.searchsorted(tok_doc, np.arange(n_docs), side="left")
        if not config.word_bigrams:
            return FeatureGroup(index=_mix(word_hash, _SALT_WORD, config.bits), starts=first_tok)
        index = np.zeros(2 * n_tok, dtype=np.int64)
        index[0::2] = _mix(word_hash, _SALT_WORD, config.bits)
        if n_tok > 1:
            big = _mix(word_hash[:-1] * _P + word_hash[1:], _SALT_BIGRAM, config.bits)
            big[tok_doc[:-1] != tok_doc[1:]] = 0
            index[1:-1:2] = big
    return FeatureGroup(index=index, starts=2 * first_tok)


@functools.lru_cache(maxsize=64)
def _meta_table(name: str, bits: int) -> np.ndarray:
    """Buckets of `meta:<name>:0..15` (cached: hashing names per batch would cost more than scoring)."""
    return np.array([named_bucket(f"meta:{name}:{k}", bits) for k in range(16)], dtype=np.int64)


def _count_marker(buf: np.ndarray, marker: bytes, starts: np.ndarray, total: int) -> np.ndarray:
    """Occurrences of a short byte string per document (vectorised substring count)."""
    m = len(marker)
    if total < m:
        return np.zeros(len(starts), dtype=np.int64)
    hit = np.ones(total - m + 1, dtype=bool)
    for k, byte in enumerate(marker):
        hit &= buf[k : total - m + 1 + k] == byte
    pos = np.flatnonzero(hit)
    return np.bincount(np.searchsorted(starts, pos, side="right") - 1, minlength=len(starts))


def _bucket(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")


def _meta_group(
    raw: np.ndarray,
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    lengths: np.ndarray,
    config: FeatureConfig,
) -> FeatureGroup:
    """One-hot buckets of signals a trust-and-safety team watches."""
    n_docs = len(starts)
    total = int(ends[-1])
    r = raw[:total]
    pos_doc_starts = starts

    def per_doc(mask: np.ndarray) -> np.ndarray:
        csum = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
        return csum[ends] - csum[pos_doc_starts]

    upper = per_doc((r >= 65) & (r <= 90))
    lower = per_doc((r >= 97) & (r <= 122))
    letters = upper + lower
    caps_ratio = np.where(letters >= 8, upper / np.maximum(letters, 1), -1.0)
    digit = (buf[:total] >= 48) & (buf[:total] <= 57)
    digits = per_doc(digit)
    # Digit runs of 7+ (phone numbers, short codes with area prefixes), allowing no separators.
    edges = np.diff(np.concatenate([[0], digit.astype(np.int8), [0]]))
    run_start = np.flatnonzero(edges == 1)
    run_len = np.flatnonzero(edges == -1) - run_start
    long_runs = run_start[run_len >= 7]
    phone = np.bincount(np.searchsorted(starts, long_runs, side="right") - 1, minlength=n_docs)
    urls = sum(_count_marker(buf, marker, starts, total) for marker in _URL_MARKERS)
    money = sum(_count_marker(buf, marker, starts, total) for marker in _CURRENCY_BYTES)
    bangs = per_doc(r == 33)
    text_len = lengths - 2

    features: list[tuple[str, np.ndarray]] = [
        ("caps", _bucket(caps_ratio, [0.0, 0.15, 0.35, 0.6, 0.85])),
        ("len", _bucket(text_len.astype(np.float64), [1, 20, 60, 120, 200, 300, 600])),
        ("digits", _bucket(digits / np.maximum(text_len, 1), [1e-9, 0.05, 0.1, 0.2])),
        ("phone", np.minimum(phone, 2)),
        ("urls", np.minimum(urls, 3)),
        ("money", np.minimum(money, 2)),
        ("bangs", np.minimum(bangs, 3)),
    ]
    columns = [_meta_table(name, config.bits)[np.minimum(bucket, 15)] for name, bucket in features]
    index = np.stack(columns, axis=1).reshape(-1)
    return FeatureGroup(index=index, starts=np.arange(n_docs, dtype=np.int64) * len(features))
