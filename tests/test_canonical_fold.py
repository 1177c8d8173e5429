"""The fold (`canonical._fold_fingerprint`, `TextForms.folded`) worked on UTF-8 bytes, links
found from their `/` and `.`, held to its first form: tokens split as `str`s, each tested."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from fraud_pipeline.scoring import canonical
from fraud_pipeline.scoring.canonical import (
    TextForms,
    _fingerprint,
    _fold_fingerprint,
    _views_of,
)
from fraud_pipeline.scoring.rewrites import REWRITES, rewrite

REPO = Path(__file__).resolve().parents[1]

_OLD_TABLE = bytes(
    ord(" ") if chr(b) in string.punctuation or 0x1C <= b <= 0x1F else ord("0") if chr(b).isdigit() else b
    for b in range(128)
) + bytes(range(128, 256))


def _reference_fold(lowered: str) -> str:
    """The fold as it was first written (every token split out and tested as a link)."""
    edges = ".,!?;:)(\"'"
    if "/" in lowered or "." in lowered:
        tokens = lowered.split()
        lowered = " ".join([t for t in tokens if not ("/" in t or "." in t.strip(edges))])
    data = " ".join(lowered.split()).encode("utf-8", "surrogatepass")
    return b" ".join(data.translate(_OLD_TABLE).split()).decode("utf-8", "surrogatepass")


EDGE_CASES = [
    "",
    " ",
    "a.b",
    "end. of sentence.",
    "see https://x.com/a now",
    "x.com",
    "(x.com)",
    "'a.b'",
    "...",
    "a...b",
    "a/",
    "/",
    "a\x1cb.c d",
    "a\x1db\x1e.c\x1f/d e",
    "a\u00a0x.com b",
    "a\u3000b.c\u2028d\u2029e\u0085f\u202fg\u205fh\u1680i\u2000j\u200ak",
    "\u2019quoted\u201d x.y",
    "t.co/\u00e9t\u00e9",
    "a\ud800b.c \udfff/",
    "12.50$ now!",
    "v1.2.3",
    "Mixed CASE. With.Dots",
    "tab\tsep.x\nnew/line\r\x0b\x0cz",
]


def _texts() -> list[str]:
    lines = (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    lines += (REPO / "data/evaluation/benign_scripts.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    return list(dict.fromkeys(texts + EDGE_CASES))


def _random_texts(count: int, seed: int) -> list[str]:
    """Texts of what the fold looks at: links' characters, the link edges, every kind of space
    (ASCII, \\x1c-\\x1f, outside ASCII), digits, punctuation, upper case, letters outside ASCII."""
    rng = random.Random(seed)
    alphabet = "abZ09/.,!?;:)(\"'-_ \t\n\x1c\x1f\u00a0\u3000\u2009é日🎁\u0301"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(count)]


def test_wide_spaces_are_every_space_outside_ascii() -> None:
    every = [chr(c) for c in range(0x80, 0x110000) if chr(c).isspace()]
    assert list(canonical._WIDE_SPACES) == every
    assert "".join(every).split() == []


@pytest.mark.parametrize("source", ["data", "random"])
def test_fold_is_its_first_form(source: str) -> None:
    texts = _texts() if source == "data" else _random_texts(30_000, 7)
    for text in texts:
        lowered = _fingerprint(_views_of(text))
        assert _fold_fingerprint(lowered) == _reference_fold(lowered), repr(text)
        # The forms' fold: an ASCII leet view folded as is (the table lower-cases it).
        assert TextForms(text).folded == _reference_fold(lowered), repr(text)
        assert canonical._fold(text) == _reference_fold(lowered), repr(text)
        # Any text as a fingerprint (upper case, spaces of every kind): the table lower-cases
        # ASCII letters alone.
        assert _fold_fingerprint(text) == _reference_fold(text.translate(_ASCII_LOWER)), repr(text)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def test_the_reference_drops_what_the_fold_drops() -> None:
    """The reference can fail: a link kept, or a word dropped, would show."""
    assert _fold_fingerprint("go to x.com/a now, ok.") == "go to now ok"
    assert _fold_fingerprint("a\u00a0x.com b") == "a b"
    assert _fold_fingerprint("win 100 x.y") == "win 000"
    assert _fold_fingerprint("t\x1cx.com") == "t"


def test_lower_cased_text_and_its_nfd_lower_case_to_themselves() -> None:
    """What `_fingerprint` leaves out its final `lower` on: every character a lower-cased text
    can hold lower-cases to itself, and so does the NFD of each such character; a prototype
    that does not is in `cased_prototype_letters`."""
    import unicodedata

    every = [chr(c) for c in range(0x110000)]
    assert [c for c in every if any(y.lower() != y for y in c.lower())] == []
    nfd = unicodedata.normalize
    assert [c for c in every if c.lower() == c and nfd("NFD", c).lower() != nfd("NFD", c)] == []
    t = canonical.tables()
    assert t.skeleton_letter_pairs is not None
    for ch, target in t.skeleton_letter_pairs.items():
        assert (target.lower() != target) == (ch in t.cased_prototype_letters)
    assert _fingerprint(_views_of("Ꭺpple ᏞEDGER")) == _fingerprint(_views_of("Ꭺpple ᏞEDGER")).lower()
