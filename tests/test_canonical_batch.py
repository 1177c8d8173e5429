"""The batch reading of ASCII texts (`canonical.batch_forms`, `_read_ascii`, `_ascii_hints`)
held to the per-text reading (`_views_of`) and to the full reading without any fast path."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fraud_pipeline.scoring import canonical
from fraud_pipeline.scoring.canonical import (
    EvasionEvidence,
    TextViews,
    _analyse,
    _ascii_hints,
    _leet,
    _plain_ascii,
    _views_of,
    batch_forms,
)
from fraud_pipeline.scoring.rewrites import REWRITES, rewrite

REPO = Path(__file__).resolve().parents[1]

EDGE_CASES = [
    "",
    "a",
    "f r e e",
    "x.y.z now",
    "a  b   c",
    "a    b c d",
    "fr33",
    "$eth @me",
    "I a m",
    "_ a _",
    "c0in",
    "c",  # alone at a seam: `c` then the next text's `a b`
    "a b",
    "b",
    "4irdrop",
    "web3 mp3 5pm 3rd",
    "Vegas113",
    "h3ll0 w0rld",
    "@user1 $BTC 100x",
    "s-e-n-d y.o.u.r",
    "p*r*i*z*e",
    "a_b_c",
    "1 2 3",
    "fr3e\nfr3e",
]


def _full_reading(text: str) -> TextViews:
    """The views of an ASCII text by the full reading, no fast path: spaced-out words rejoined
    (`_analyse`, whose ASCII part is that alone), then leetspeak read (`_leet`)."""
    canonical_text, mixed, spaced = _analyse(text, False)
    leet, changed = _leet(canonical_text)
    return TextViews(text, canonical_text, leet, EvasionEvidence(mixed, 0, 0, spaced, len(changed)))


def _texts() -> list[str]:
    lines = (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    return [t for t in dict.fromkeys(texts + EDGE_CASES) if t.isascii()]


def _random_texts(count: int, seed: int) -> list[str]:
    """ASCII texts made of what the hints look at: letters, leet characters, digits that are
    not leet, separators, `_`, spaces and newlines."""
    rng = random.Random(seed)
    alphabet = "abcdeFGH013457@$2689_ .*-\n'x?"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(count)]


def _batch_views(texts: list[str]) -> list[TextViews]:
    canonical.text_forms.cache_clear()
    try:
        forms = batch_forms(texts)
        assert all(form._views is not None for form in forms.values())  # read in the batch
        return [forms[t].views for t in texts]
    finally:
        canonical.text_forms.cache_clear()


def _check(batch: list[str]) -> None:
    """Each text's batch views are its per-text views (`_views_of`), and the full reading's
    wherever the per-text fast path (`_plain_ascii`) does not answer or the full reading keeps
    the text as it is."""
    for text, views in zip(batch, _batch_views(batch), strict=True):
        assert views == _views_of(text), repr(text)
        full = _full_reading(text)
        if not _plain_ascii(text) or full.leet == text:
            assert views == full, repr(text)


@pytest.mark.parametrize("batch_size", [1, 7, 500])
def test_batch_views_of_ascii_texts_are_the_per_text_and_the_full_reading(batch_size: int) -> None:
    texts = _texts()
    for start in range(0, len(texts), batch_size):
        _check(texts[start : start + batch_size])


def test_batch_views_hold_on_random_ascii_texts() -> None:
    texts = list(dict.fromkeys(_random_texts(6000, seed=10)))
    for start in range(0, len(texts), 50):
        _check(texts[start : start + 50])


def test_the_per_text_fast_path_keeps_letters_spaced_by_underscores() -> None:
    """Known and kept (behaviour unchanged): `_plain_ascii` counts `_` as a word character, so
    it calls `a_b_c` plain, while the full reading (`_SPACED`, whose separators include `_`)
    rejoins it; a text the fast path does not pass (a leet contact) is rejoined. The batch
    reading gives what the per-text reading gives in both cases."""
    assert _views_of("a_b_c").canonical == "a_b_c"
    assert _full_reading("a_b_c").canonical == "abc"
    assert _views_of("a_b_c c0in").canonical == "abc c0in"
    assert [v.canonical for v in _batch_views(["a_b_c", "a_b_c c0in"])] == ["a_b_c", "abc c0in"]


def test_ascii_hints_flag_exactly_the_leet_contacts_and_every_spaced_word() -> None:
    """The leet hint is exactly `_leet`'s own test (a letter touching `013457@$`); the other
    two never miss a text `_plain_ascii`'s one-character words test or the full reading's
    rejoining would catch, and let most texts skip both."""
    texts = _texts() + _random_texts(2000, seed=11)
    hints = _ascii_hints(texts)
    rejoined = skipped = 0
    for text, has_leet, one_char_words, maybe_spaced in zip(
        texts, hints.leet.tolist(), hints.one_char_words.tolist(), hints.spaced.tolist(), strict=True
    ):
        assert has_leet == (canonical._LEET_CANDIDATE.search(text) is not None), text
        word_classes = b" " + text.encode("ascii").translate(canonical._ASCII_WORD_CLASS) + b" "
        if canonical._ASCII_SPACED_HINT.search(word_classes):
            assert one_char_words, text
        if _analyse(text, False)[2]:
            rejoined += 1
            assert maybe_spaced, text
        skipped += not (maybe_spaced or one_char_words)
    assert rejoined > 100 and skipped > 0.7 * len(texts)


def test_ascii_hints_place_each_hit_in_its_own_text() -> None:
    """A hit is reported for the text it is in, at either end of a batch and beside empty texts."""
    hints = _ascii_hints(["fr33", "", "plain words", "", "f r e e"])
    assert hints.leet.tolist() == [True, False, False, False, False]
    assert hints.spaced.tolist() == [False, False, False, False, True]
    assert hints.one_char_words.tolist() == [False, False, False, False, True]
    hints = _ascii_hints(["f r e e", "ok", "x4y", "a_b_c", "1 2 3"])
    assert hints.leet.tolist() == [False, False, True, False, False]
    assert hints.spaced.tolist() == [True, False, False, True, False]
    assert hints.one_char_words.tolist() == [True, False, False, False, True]
    hints = _ascii_hints([])
    assert hints.leet.tolist() == [] and hints.spaced.tolist() == []


def test_batch_forms_keeps_non_ascii_texts_for_later_and_views_read_once() -> None:
    """Texts outside ASCII are read when asked (`TextForms.views`), as before; a text read
    already (kept by `text_forms`) is not read again by the next batch."""
    canonical.text_forms.cache_clear()
    try:
        forms = batch_forms(["frее аirdrop", "fr33 stuff", "hello"])
        assert forms["frее аirdrop"]._views is None
        assert forms["frее аirdrop"].views == _views_of("frее аirdrop")
        first = forms["fr33 stuff"].views
        assert first.leet == "free stuff" and first.evidence.leet_words == 1
        again = batch_forms(["fr33 stuff", "hello"])
        assert again["fr33 stuff"].views is first
    finally:
        canonical.text_forms.cache_clear()


def _non_ascii_texts() -> list[str]:
    """Texts outside ASCII: the labelled data and its rewrites, the benign posts in other
    scripts, and edge cases (surrogates, controls, every kind of character the tests look for)."""
    lines = (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    lines += (REPO / "data/evaluation/benign_scripts.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    texts += [
        "a\ud800b",
        "\udfff",
        "\x7f\x80\xff",
        "ｆｒｅｅ ａｉｒｄｒｏｐ",
        "日本語のｆｒｅｅ",
        "tag\U000e0041 \U0001d41a",
        "frее 🎁\u200b",
        "e\u0301",
        "ﬁ",
    ]
    return [t for t in dict.fromkeys(texts) if not t.isascii()]


def test_outside_ascii_is_the_text_without_its_ascii_characters() -> None:
    from fraud_pipeline.scoring.canonical import _outside_ascii

    every = "".join(map(chr, range(0x110000)))
    assert _outside_ascii(every) == every[128:]
    for text in _non_ascii_texts():
        assert _outside_ascii(text) == "".join(ch for ch in text if not ch.isascii()), repr(text)


def test_set_tests_ask_the_characters_outside_ascii_as_they_asked_the_whole_text() -> None:
    """Whether a text holds an invisible character, a lookalike, a full-width Latin letter or a
    CJK one is answered the same from its characters outside ASCII (`_outside_ascii`), which
    `_views_of` and `_analyse` ask; and the texts hold some of each."""
    from fraud_pipeline.scoring.canonical import (
        _CJK,
        _FULLWIDTH_LATIN,
        _beyond_bmp,
        _has_invisible,
        _outside_ascii,
        tables,
    )

    t = tables()

    def lookalike(text: str) -> bool:
        if _beyond_bmp(text):
            return not t.lookalikes.keys().isdisjoint(text)
        return t.lookalike.search(text) is not None

    seen = {"invisible": 0, "lookalike": 0, "fullwidth": 0, "cjk": 0}
    for text in _non_ascii_texts():
        rare = _outside_ascii(text)
        answers = {
            "invisible": _has_invisible(text, t),
            "lookalike": lookalike(text),
            "fullwidth": _FULLWIDTH_LATIN.search(text) is not None,
            "cjk": _CJK.search(text) is not None,
        }
        assert answers == {
            "invisible": _has_invisible(rare, t),
            "lookalike": lookalike(rare),
            "fullwidth": _FULLWIDTH_LATIN.search(rare) is not None,
            "cjk": _CJK.search(rare) is not None,
        }, repr(text)
        for name, found in answers.items():
            seen[name] += found
    assert min(seen.values()) >= 2, seen


def _reference_fingerprint(views: TextViews) -> str:
    """`canonical._fingerprint` as it was: the characters to map searched in the whole text."""
    import unicodedata

    from fraud_pipeline.scoring.canonical import _beyond_bmp, tables

    leet = views.leet.lower()
    if leet.isascii():
        return leet
    decomposed = unicodedata.normalize("NFD", leet)
    t = tables()
    pairs = t.skeleton_letter_pairs
    assert pairs is not None
    found = (
        pairs.keys() & set(decomposed) if _beyond_bmp(decomposed) else t.skeleton_letter.findall(decomposed)
    )
    for ch in set(found):
        decomposed = decomposed.replace(ch, pairs[ch])
    return decomposed.lower()


def test_fingerprint_maps_the_characters_the_whole_text_search_found() -> None:
    """`_fingerprint` (characters outside ASCII asked of `_outside_ascii`, the ASCII skeleton
    letters `I` and `m` by `in`) gives the reference's reading on texts outside ASCII."""
    from fraud_pipeline.scoring.canonical import _fingerprint, tables

    assert set(tables().ascii_skeleton_letters) == {"I", "m"}
    texts = (
        _non_ascii_texts() + _random_non_ascii_texts(3000, seed=14) + ["mémé 🎁", "Ｍｍ Iι", "ｍ\U0001d426"]
    )
    for text in texts:
        views = _views_of(text)
        assert _fingerprint(views) == _reference_fingerprint(views), repr(text)


def _random_non_ascii_texts(count: int, seed: int) -> list[str]:
    """Texts mixing ASCII with what the reading rewrites or counts: lookalikes, invisible and
    full-width characters, the `·` separator, combining marks, CJK, emoji, leet characters,
    and the ASCII skeleton letters `I` and `m`."""
    rng = random.Random(seed)
    alphabet = "abcmIFRE013457@$29_ .*-\n'?·ｆａｍ日аеоΑι\u200b\u00ad\ufe0f🎁é\u0301\U0001d41a"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(count)]


def test_no_set_asked_outside_ascii_holds_an_ascii_character() -> None:
    """What makes asking `_outside_ascii` exact: none of the character sets it is asked about
    (invisible, lookalike, full-width Latin, CJK) holds an ASCII character. A table built from
    other Unicode data that did would fail here, not silently miss evasions."""
    from fraud_pipeline.scoring.canonical import _CJK, _FULLWIDTH_LATIN, _has_invisible, tables

    t = tables()
    every_ascii = "".join(map(chr, range(128)))
    assert not _has_invisible(every_ascii, t) and t.invisible.search(every_ascii) is None
    assert t.lookalike.search(every_ascii) is None and t.lookalikes.keys().isdisjoint(every_ascii)
    assert _FULLWIDTH_LATIN.search(every_ascii) is None and _CJK.search(every_ascii) is None


def test_a_contact_no_word_is_read_at_still_sends_a_text_the_full_way() -> None:
    """`_plain_ascii` answers on any leet contact, not only on one `_leet` would read (session
    11's `_no_leet_word`): `a_b_c $ETH` was read the full way (and rejoined) and still is."""
    assert not _plain_ascii("a_b_c $ETH")
    assert _views_of("a_b_c $ETH").canonical == "abc $ETH"
    assert [v.canonical for v in _batch_views(["a_b_c $ETH", "a_b_c"])] == ["abc $ETH", "a_b_c"]
