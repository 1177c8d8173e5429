"""The batch's word openings (`signal_registry._batch_openings`) held to the regex they replace
(`_OPENING.finditer`), and the batch readings to the per-text ones."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fraud_pipeline.scoring import canonical
from fraud_pipeline.scoring import text_patterns as tp
from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
from fraud_pipeline.scoring.signal_registry import (
    _ASCII_WORDS,
    _OPENING,
    TextReading,
    _batch_openings,
    _heads,
    read_batch,
)

REPO = Path(__file__).resolve().parents[1]


def _regex_openings(data: bytes) -> list[tuple[int, bytes]]:
    return [(m.start(), m.group()) for m in _OPENING.finditer(data.translate(_ASCII_WORDS))]


def _texts() -> list[str]:
    lines = (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:2000])]
    return list(dict.fromkeys(texts))


def _random_texts(count: int, seed: int) -> list[str]:
    """Words made of prefixes, their pieces and near misses, in any case, run together or apart."""
    rng = random.Random(seed)
    pieces = [*tp.TRIGGER_PREFIXES, "see", "wor", "gi", "d", "m", "x", "2", "10", "_", "é", "DM", "Free"]
    seps = [" ", "", "", "-", "_", ".", "\n", "?", "$", "9"]
    return [
        "".join(rng.choice(pieces) + rng.choice(seps) for _ in range(rng.randint(0, 8))) for _ in range(count)
    ]


@pytest.mark.parametrize("batch_size", [1, 3, 500])
def test_batch_openings_are_the_regex_openings(batch_size: int) -> None:
    texts = _texts() + _random_texts(5000, seed=3)
    found = 0
    for start in range(0, len(texts), batch_size):
        lowers = [t.lower() for t in texts[start : start + batch_size]]
        data = (" " + " ".join(lowers)).encode("ascii", "replace")
        expected = _regex_openings(data)
        assert _batch_openings(data) == expected, lowers
        found += len(expected)
    assert found > 1000


def test_batch_openings_at_the_edges() -> None:
    for data in [b" ", b" dm", b" 2x", b" x9 dm", b" giveaway", b" give", b" gi", b"  free", b" DM 10X", b""]:
        if data:
            assert _batch_openings(data) == _regex_openings(data), data
    assert _batch_openings(b" giveaway give") == [(0, b" giveaway"), (9, b" give")]


def test_prefixes_the_tables_cannot_hold_are_refused() -> None:
    for bad in (("a",), ("Free",), ("two words",), ("x-y",)):
        with pytest.raises(ValueError):
            _heads(bad)


def test_batch_readings_are_the_per_text_readings() -> None:
    """`read_batch` over batches gives each text the reading `TextReading` gives it alone."""
    texts = _texts()[:3000] + _random_texts(2000, seed=4)
    canonical.text_forms.cache_clear()
    leet_readings = leet_triggers = 0
    try:
        for start in range(0, len(texts), 250):
            forms = canonical.batch_forms(texts[start : start + 250])
            read_batch(forms.values())
            for form in forms.values():
                alone = TextReading(canonical._views_of(form.text))
                batch = form.reading
                assert batch is not None
                assert (batch.text, batch.leet_text, batch.triggers, batch.rewritten) == (
                    alone.text,
                    alone.leet_text,
                    alone.triggers,
                    alone.rewritten,
                )
                assert batch.openings == alone.openings, form.text
                if alone.leet_text:  # no positions: they would be the canonical view's alone
                    assert batch.opened is None
                    leet_readings += 1
                    leet_triggers += batch.triggers
        assert leet_readings > 100 and leet_triggers > 10
    finally:
        canonical.text_forms.cache_clear()


def _phrases(count: int, seed: int) -> list[str]:
    """Made-up lines around the gated patterns' words: amounts, coins, multipliers, `back`."""
    rng = random.Random(seed)
    words = [
        "send", "sending", "deposit", "transfer", "get", "receive", "return", "back", "double", "triple",
        "twice", "2x", "3x", "10x", "x2", "x5", "your", "ur", "btc", "eth", "sol", "doge", "crypto",
        "give", "gives", "paying", "you", "it", "0.5", "1,000", "$", "giveaway", "airdrop", "free",
        "claim", "rewards", "tokens", "nft", "-", "_", "eth-double", "btc_x2", "é", "the", "to",
        # SUPPORT's and PRIZE's words, the ones their matches may start at among them
        "call", "calling", "kraken", "support", "team", "line", "numbers", "customer", "care", "help",
        "desk", "helpdesk", "dm", "us", "me", "for", "contact", "you've", "you have", "thank-you",
        "won", "winner", "prize", "now", "cash", "reward", "young",
    ]  # fmt: skip
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 14))) for _ in range(count)]


def test_anchored_patterns_match_only_at_words_with_their_openings() -> None:
    """Every position at which a pattern of `ANCHORED_AT` matches (overlapping ones too) is a
    word start where `_batch_openings` reports one of the pattern's anchors, so trying it there
    alone finds what a search finds."""
    from fraud_pipeline.scoring.signal_registry import _ANCHORS

    texts = [t.lower() for t in _texts()] + _phrases(4000, seed=5)
    matched = 0
    for pattern in tp.ANCHORED_AT:
        needed = _ANCHORS[id(pattern)]
        for text in texts:
            if pattern.search(text) is None:
                continue
            opened = {
                at + 1 - 1
                for at, g in _batch_openings((" " + text).encode("ascii", "replace"))
                if g in needed
            }
            starts = [i for i in range(len(text)) if pattern.match(text, i) is not None]
            assert starts and set(starts) <= opened, (pattern.pattern[:30], text)
            matched += 1
    assert matched > 300


def test_gated_anchored_patterns_answer_as_a_search() -> None:
    """`TextReading.gated` of a batch reading (which matches anchored patterns at their words)
    equals the search of the same text's reading without positions, for every gated pattern."""
    texts = _texts()[:3000] + _phrases(3000, seed=6)
    canonical.text_forms.cache_clear()
    hits = 0
    try:
        for start in range(0, len(texts), 250):
            forms = canonical.batch_forms(texts[start : start + 250])
            read_batch(forms.values())
            for form in forms.values():
                batch = form.reading
                assert batch is not None
                alone = TextReading(form.views)
                assert alone.opened is None
                for pattern in tp.PATTERN_OPENINGS:
                    found = batch.gated(pattern)
                    assert found == alone.gated(pattern), (pattern.pattern[:30], form.text)
                    hits += found and pattern in tp.ANCHORED_AT
    finally:
        canonical.text_forms.cache_clear()
    assert hits > 100


def _reference_lookalike_brand(views: canonical.TextViews, brands: list[str]) -> str:
    """`canonical.lookalike_brand` as it was written first: every view lower-cased."""
    canonical_lower = views.canonical.lower()
    leet_lower = views.leet.lower()
    if canonical_lower == views.original.lower() and leet_lower == canonical_lower:
        return ""
    raw = views.original.lower()
    for brand in brands:
        name = brand.lower()
        if (name in canonical_lower or name in leet_lower) and name not in raw:
            return name
    return ""


def test_lookalike_brand_and_the_readings_kept_answer_are_the_reference() -> None:
    """`lookalike_brand` (each view lower-cased once) gives the reference's answer, and
    `TextReading.brand` gives it once per text and lists, asking again for other lists."""
    from fraud_pipeline.policy.source import load_default_policy
    from fraud_pipeline.scoring.canonical import lookalike_brand
    from fraud_pipeline.scoring.signal_registry import CompiledLists

    policy_lists = load_default_policy().spec.lists
    brands = list(policy_lists.impersonated_brands)
    spelled = [rewrite(f"verify your {b} wallet at {b} support", kind, row=i) for i, b in enumerate(brands)
               for kind in REWRITES]  # fmt: skip
    texts = _texts()[:4000] + spelled + ["Ｍｅｔａｍａｓｋ", "METAMASK Меtаmаsk", "l e d g e r", "c0inbase"]
    lists, other = CompiledLists(policy_lists), CompiledLists(policy_lists)
    found = 0
    canonical.text_forms.cache_clear()
    try:
        for text in texts:
            views = canonical.text_views(text)
            expected = _reference_lookalike_brand(views, brands)
            assert lookalike_brand(views, brands) == expected, text
            reading = TextReading(views)
            assert reading.brand(lists) == expected == reading.brand(lists) == reading.brand(other)
            found += bool(expected)
    finally:
        canonical.text_forms.cache_clear()
    assert found > 20
