"""The rewrites scammers use to dodge text filters, as seeded functions of a text.

Two uses, one definition: training augments the scam texts with them (so the model has
seen what survives canonicalisation, such as two spaced-out words run together), and
`model evaluate --rewrites` and the benchmark measure recall on held-out scam texts after
each rewrite, next to recall on the plain texts.

Each rewrite is what a scammer does by hand or with a one-line script (issue #17):

- `cyrillic`: about half the Latin letters that have a Cyrillic lookalike are swapped for
  it (the lookalikes are the UTS #39 confusables whose prototype is that letter);
- `invisible`: zero-width characters and soft hyphens between about half the letters;
- `fullwidth`: about half the characters in their full-width forms;
- `spaced`: the letters of words of four letters or more spaced out (`f r e e`);
- `leet`: most a, e, i, o, s, t, l written as 4, 3, 1, 0, 5, 7, 1 (`fr33 4irdr0p`).

Everything random comes from `random.Random` seeded by (seed, rewrite, row), so the same
inputs give the same rewritten texts in any order, process or machine.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Sequence

import regex

from fraud_pipeline.scoring.canonical import latin_lookalikes

REWRITES: tuple[str, ...] = ("cyrillic", "invisible", "fullwidth", "spaced", "leet")
SHARE = 0.5  # "about half": the share of eligible characters a rewrite changes
LEET_SHARE = 0.8
SPACED_MIN_LETTERS = 4
# Invisible characters scammers put between letters: zero-width space, non-joiner, joiner,
# word joiner and the soft hyphen.
INVISIBLES = ("\u200b", "\u200c", "\u200d", "\u2060", "\u00ad")
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "l": "1"}
_CYRILLIC = regex.compile(r"\p{Cyrillic}")
_LONG_WORD = re.compile(rf"[A-Za-z]{{{SPACED_MIN_LETTERS},}}")


@functools.cache
def cyrillic_lookalikes() -> dict[str, str]:
    """ASCII letter -> one Cyrillic letter that UTS #39 says imitates it (the first in code order)."""
    out: dict[str, str] = {}
    for source, target in sorted(latin_lookalikes().items()):
        if len(target) == 1 and _CYRILLIC.match(source) and target not in out:
            out[target] = source
    return out


def _cyrillic(text: str, rng: random.Random) -> str:
    table = cyrillic_lookalikes()
    return "".join(table[ch] if ch in table and rng.random() < SHARE else ch for ch in text)


def _invisible(text: str, rng: random.Random) -> str:
    out = []
    for i, ch in enumerate(text):
        out.append(ch)
        if ch.isalpha() and i + 1 < len(text) and text[i + 1].isalpha() and rng.random() < SHARE:
            out.append(rng.choice(INVISIBLES))
    return "".join(out)


def _fullwidth(text: str, rng: random.Random) -> str:
    out = []
    for ch in text:
        if "!" <= ch <= "~" and rng.random() < SHARE:
            out.append(chr(ord(ch) + 0xFEE0))  # the full-width forms block mirrors printable ASCII
        elif ch == " " and rng.random() < SHARE:
            out.append("\u3000")  # ideographic space, the full-width space
        else:
            out.append(ch)
    return "".join(out)


def _spaced(text: str, rng: random.Random) -> str:
    return _LONG_WORD.sub(lambda match: " ".join(match.group()), text)


def _leet(text: str, rng: random.Random) -> str:
    return "".join(
        LEET[ch.lower()] if ch.lower() in LEET and rng.random() < LEET_SHARE else ch for ch in text
    )


_FUNCTIONS: dict[str, Callable[[str, random.Random], str]] = {
    "cyrillic": _cyrillic,
    "invisible": _invisible,
    "fullwidth": _fullwidth,
    "spaced": _spaced,
    "leet": _leet,
}


def rewrite(text: str, kind: str, seed: int = 0, row: int = 0) -> str:
    """`text` rewritten by `kind` (one of `REWRITES`), seeded by (seed, kind, row)."""
    try:
        function = _FUNCTIONS[kind]
    except KeyError:
        raise ValueError(f"unknown rewrite {kind!r}; one of {', '.join(REWRITES)}") from None
    return function(text, random.Random(f"{seed}/{kind}/{row}"))


def rewrite_all(texts: Sequence[str], kind: str, seed: int = 0) -> list[str]:
    """Every text rewritten by `kind`, row i seeded by (seed, kind, i)."""
    return [rewrite(text, kind, seed, row) for row, text in enumerate(texts)]
