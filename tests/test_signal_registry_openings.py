"""Session 11's batch openings (`_batch_openings` without a `translate`, one gather and one
table) and `read_batch`'s own walk (views joined by NUL, openings handed to their views in
order) held to what they replaced: the regex over the translated bytes, and each view read
alone, positions included."""

from __future__ import annotations

import random

from fraud_pipeline.scoring import canonical
from fraud_pipeline.scoring import text_patterns as tp
from fraud_pipeline.scoring.signal_registry import (
    _ANCHOR_OPENINGS,
    _ASCII_WORDS,
    _OPENING,
    _batch_openings,
    read_batch,
)


def _regex_openings(data: bytes) -> list[tuple[int, bytes]]:
    return [(m.start(), m.group()) for m in _OPENING.finditer(data.translate(_ASCII_WORDS))]


def _random_bytes(rng: random.Random) -> bytes:
    """Prefixes whole and cut, in either case, among bytes of every kind: word bytes, spaces,
    NULs, control bytes that `|0x20` would make digits, bytes outside ASCII, punctuation."""
    pieces = [p.encode() for p in (*tp.TRIGGER_PREFIXES, *tp.ANCHOR_PREFIXES)]
    pieces += [p.upper() for p in pieces] + [p[:2] for p in pieces] + [p[:3] for p in pieces]
    singles = b" \x00\x12\x19_-.$?9aZx\x7f\x80\xe1\xff"
    parts = [
        rng.choice(pieces) if rng.random() < 0.4 else bytes([rng.choice(singles)])
        for _ in range(rng.randint(0, 24))
    ]
    return b"".join(parts)


def test_openings_of_any_bytes_are_the_regex_openings() -> None:
    rng = random.Random(11)
    found = 0
    for _ in range(20_000):
        data = _random_bytes(rng)
        expected = _regex_openings(data)
        assert _batch_openings(data) == expected, data
        found += len(expected)
    assert found > 20_000


def test_openings_at_the_edges() -> None:
    edges = [b"", b" ", b"d", b"dm", b" d", b" dm", b"\x00dm", b" DM", b" Dm!", b" 2x", b" \x12x"]
    edges += [b" x\x80", b" \xe1\xed", b" giveawa", b" giveaway", b" GIVEAWAYS", b" sol", b" so", b" 10x"]
    for data in edges:
        assert _batch_openings(data) == _regex_openings(data), data


def _texts(count: int, seed: int) -> list[str]:
    """Lines of prefixes, common words and characters outside ASCII; some with a NUL (which
    `_lower_ascii` cannot split back) or a leet contact (a view of their own)."""
    rng = random.Random(seed)
    words = [*tp.TRIGGER_PREFIXES, "the", "sent", "FREE", "Claim", "héllo", "ｆｒｅｅ", "fr33", "s3nd"]
    words += ["\x00", "dm\x00", "b t c", "wallet.", "$eth", "🚀", "x2", "2x", "you", "calling", "young"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(count)]


def test_batch_readings_hold_each_views_positions() -> None:
    """Every batch reading's openings and their positions are the regex's over that view alone
    (canonical view; for a text with a leet view of its own, both views' openings and no
    positions), in batches with and without NULs in their texts: the openings those of trigger
    prefixes, the positions every word's (the anchors' too) where there is one."""
    texts = _texts(3000, seed=12)
    canonical.text_forms.cache_clear()
    positions = nul = anchors = 0
    try:
        for size in (1, 7, 250):
            canonical.text_forms.cache_clear()
            for start in range(0, len(texts), size):
                forms = canonical.batch_forms(texts[start : start + size])
                read_batch(forms.values())
                for form in forms.values():
                    reading = form.reading
                    assert reading is not None
                    views = form.views
                    lower = views.canonical.lower()
                    assert reading.text == lower
                    every = _regex_openings((" " + lower).encode("ascii", "replace"))
                    alone = [(at, g) for at, g in every if g not in _ANCHOR_OPENINGS]
                    if reading.leet_text:
                        leet = _regex_openings((" " + views.leet.lower()).encode("ascii", "replace"))
                        leet = [(at, g) for at, g in leet if g not in _ANCHOR_OPENINGS]
                        assert reading.opened is None
                        assert reading.openings == frozenset(g for _, g in alone + leet)
                        continue
                    assert reading.openings == frozenset(g for _, g in alone)
                    expected = [(g, at) for at, g in every] if alone else None
                    assert reading.opened == expected, form.text
                    positions += len(every)
                    anchors += len(every) - len(alone)
                    nul += "\x00" in form.text
    finally:
        canonical.text_forms.cache_clear()
    assert positions > 1000 and nul > 100 and anchors > 100


def test_gates_answer_as_the_openings_and_the_search_say() -> None:
    """`TextReading.gate` (openings as bits) answers what `gated` answered by sets: no trigger
    word or none of the pattern's openings, False; else the search (anchored patterns matched at
    their words find the same)."""
    from fraud_pipeline.scoring.signal_registry import _GATES, _OPENING_BITS, _PATTERN_OPENINGS

    assert len(_OPENING_BITS) == len(set(tp.TRIGGER_PREFIXES)) <= 62  # a native int compiled
    assert {id(g.pattern) for g in _GATES.values()} == set(_PATTERN_OPENINGS)
    texts = _texts(2000, seed=13)
    canonical.text_forms.cache_clear()
    found = skipped = 0
    try:
        forms = canonical.batch_forms(texts)
        read_batch(forms.values())
        for form in forms.values():
            reading = form.reading
            assert reading is not None and reading.openings is not None
            for gate in _GATES.values():
                disjoint = gate.needed.isdisjoint(reading.openings)
                assert (gate.bits & reading.bits == 0) == disjoint
                expected = reading.triggers and not disjoint and reading.search(gate.pattern)
                assert reading.gate(gate) == expected == reading.gated(gate.pattern), form.text
                found += expected
                if reading.triggers and disjoint:  # answered without a search
                    assert gate.key not in reading._found
                    skipped += 1
    finally:
        canonical.text_forms.cache_clear()
    assert found > 100 and skipped > 1000, (found, skipped)
