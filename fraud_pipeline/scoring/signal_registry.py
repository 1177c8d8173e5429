"""The signal registry: every signal a policy rule may name, with its type and how it is computed.

Rules in the detection policy are data; the signals they read are code. This module is the
contract between the two: a rule can only name a signal registered here, and the policy
validator checks each condition and numeric weight against the signal's declared type.
Signals are computed lazily per post (`SignalContext.get`) and cached, so a rule set that
never looks at a signal never pays for it, and the expensive text patterns are skipped for
the many posts without a trigger word.

A signal may declare a *precondition* (`requires`): a cheap fact about the post without
which the signal is always its type's zero (False, 0, ''). Four exist: `trigger_words` (the
text has a trigger word: the gated text patterns), `domains` (the post links a domain),
`listed_domain` (a linked domain is on one of the policy's domain lists or imitates one of
its brands: every domain signal; worked out once per domain and policy version) and
`rewritten` (the canonical or leet view differs from the raw text: every evasion count).
The rule compiler (`rules.py`) uses them to skip, per post, the rules that cannot fire;
a test checks every declared precondition on real texts.

A signal that only reads the post's behaviour, its shape or a model score is registered as
one Python expression over `ctx` and `behaviour` (`expression_signal`; written here in code,
never taken from a policy): the rule compiler writes the expression into the generated
function instead of a call.

To add a signal: write a function of a `SignalContext` and decorate it with `@signal(name,
type, description)` (and `requires=` when one of the preconditions holds for it); then
rules can name it (docs/detection.md).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

import numpy as np

from fraud_pipeline.records import Post
from fraud_pipeline.scoring import text_patterns as tp
from fraud_pipeline.scoring.canonical import TextForms, TextViews, lookalike_brand, text_forms
from fraud_pipeline.scoring.signals import PostSignals

if TYPE_CHECKING:
    from fraud_pipeline.policy.schema import PolicyLists

SignalType = Literal["bool", "int", "float", "str"]
SIGNAL_TYPES: tuple[str, ...] = ("bool", "int", "float", "str")
NUMERIC_TYPES = frozenset({"int", "float"})
ZERO_OF_TYPE: dict[str, Any] = {"bool": False, "int": 0, "float": 0.0, "str": ""}
Precondition = Literal["trigger_words", "domains", "listed_domain", "rewritten"]
PRECONDITIONS: tuple[Precondition, ...] = ("trigger_words", "domains", "listed_domain", "rewritten")


@dataclass(frozen=True, slots=True)
class SignalSpec:
    name: str
    type: SignalType
    description: str
    compute: Callable[[SignalContext], Any]
    requires: Precondition | None = None  # without it the value is ZERO_OF_TYPE[type]
    inline: str | None = None  # the same value as an expression over `ctx` and `behaviour`


SIGNALS: dict[str, SignalSpec] = {}


def signal(
    name: str,
    type_: SignalType,
    description: str,
    requires: Precondition | None = None,
    inline: str | None = None,
) -> Callable[[Callable[[SignalContext], Any]], Any]:
    """Register a signal under `name` (once); the decorated function computes it (and
    `inline`, when given, is the same computation as one expression, for the rule compiler)."""

    def register(compute: Callable[[SignalContext], Any]) -> Callable[[SignalContext], Any]:
        if name in SIGNALS:
            raise ValueError(f"signal {name!r} is registered twice")
        if type_ not in SIGNAL_TYPES:
            raise ValueError(f"signal {name!r} has type {type_!r}, not one of {SIGNAL_TYPES}")
        if requires is not None and requires not in PRECONDITIONS:
            raise ValueError(f"signal {name!r} requires {requires!r}, not one of {PRECONDITIONS}")
        SIGNALS[name] = SignalSpec(name, type_, description, compute, requires, inline)
        return compute

    return register


def expression_signal(name: str, type_: SignalType, description: str, expression: str) -> None:
    """Register a signal computed by `expression` over `ctx` (the `SignalContext`) and
    `behaviour` (its `PostSignals`): a plain read the rule compiler inlines (`SignalSpec.inline`)."""
    namespace: dict[str, Any] = {}
    source = f"def compute(ctx):\n    behaviour = ctx.behaviour\n    return {expression}\n"
    exec(compile(source, f"<signal {name}>", "exec"), namespace)
    signal(name, type_, description, inline=expression)(namespace["compute"])


def signal_types() -> dict[str, str]:
    """Name -> type of every registered signal (what the policy validator checks against)."""
    return {name: spec.type for name, spec in SIGNALS.items()}


class DomainFacts(NamedTuple):
    """What the policy's lists say of one linked domain ('' or False where they say nothing)."""

    lookalike_brand: str  # the impersonated brand the domain imitates
    punycode: bool
    shortener: bool
    high_abuse_tld: bool
    scam: bool  # a known scam domain or a subdomain of one


_DOMAIN_FACTS_KEPT = 65_536  # distinct domains remembered per policy version (then forgotten at once)


class CompiledLists:
    """The policy's lists as sets, built once per policy version; what they say of each
    linked domain is worked out once per domain (`facts`): most domains are on no list."""

    __slots__ = ("_facts", "brands", "high_abuse_tlds", "scam_domains", "url_shorteners")

    def __init__(self, lists: PolicyLists) -> None:
        self.url_shorteners = frozenset(lists.url_shorteners)
        self.high_abuse_tlds = frozenset(lists.high_abuse_tlds)
        self.scam_domains = frozenset(lists.scam_domains)
        self.brands = {brand: frozenset(real) for brand, real in lists.impersonated_brands.items()}
        self._facts: dict[str, DomainFacts | None] = {}

    def facts(self, domain: str) -> DomainFacts | None:
        """The lists' facts about `domain`, or None when no list names it and it imitates no brand."""
        try:
            return self._facts[domain]
        except KeyError:
            pass
        if len(self._facts) >= _DOMAIN_FACTS_KEPT:
            self._facts.clear()
        facts = DomainFacts(
            self._lookalike_brand(domain),
            domain.startswith("xn--") or ".xn--" in domain,
            domain in self.url_shorteners,
            domain.rsplit(".", 1)[-1] in self.high_abuse_tlds,
            self._is_scam(domain),
        )
        found = self._facts[domain] = facts if any(facts) else None
        return found

    def _lookalike_brand(self, domain: str) -> str:
        squashed = domain.replace("-", "")
        for brand, real in self.brands.items():
            if brand in squashed and domain not in real and not any(domain.endswith("." + r) for r in real):
                return brand
        return ""

    def _is_scam(self, domain: str) -> bool:
        scam = self.scam_domains
        if not scam:
            return False
        parts = domain.split(".")
        return any(".".join(parts[i:]) in scam for i in range(len(parts) - 1))


_MISSING = object()


class TextReading:
    """What the rules read of one text, once per distinct text (`reading_of`): its canonical
    views lower-cased, whether anything rewrote it, whether it has a trigger word, and which
    `TRIGGER_PREFIXES` its words start with, so a gated pattern none of whose openings the
    text has is never searched (`gate`)."""

    __slots__ = (
        "_brand",
        "_found",
        "bits",
        "leet_text",
        "opened",
        "openings",
        "rewritten",
        "text",
        "triggers",
        "views",
    )

    def __init__(
        self,
        views: TextViews,
        lower: str | None = None,
        openings: frozenset[bytes] = frozenset(),
        triggers: bool = False,
        opened: list[tuple[bytes, int]] | None = None,
        leet: str = "",
    ) -> None:
        self.views = views
        # By the pattern's id: a compiled pattern hashes its whole program on every lookup.
        self._found: dict[int, bool] = {}
        self._brand: tuple[CompiledLists, str] | None = None  # (the lists asked, `brand`'s answer)
        # Each word opening of `text` and where its word starts, when the caller found them
        # (`read_batch`): the patterns anchored at their openings are matched there alone.
        self.opened = opened
        if lower is not None:  # worked out by the caller (`read_batch`)
            self.text = lower
            # `leet`: the leet view lower-cased, for views with one of their own (whose
            # openings are both texts': `opened` is then None).
            self.leet_text = leet
            self.rewritten = views.canonical != views.original or (
                bool(leet) and views.leet != views.canonical
            )
            self.openings: frozenset[bytes] | None = openings  # None: every gate open
            self.bits = _bits_of(openings)
            self.triggers = triggers
            return
        lower = self.text = views.canonical.lower()
        leet = self.leet_text = views.leet.lower() if views.leet != views.canonical else ""
        self.rewritten = views.canonical != views.original or views.leet != views.canonical
        # A trigger word starts a word with one of `TRIGGER_PREFIXES`: the pattern is only
        # tried where one does (`_word_openings`), not at every character.
        openings, starts = _word_openings(lower)
        triggers = _triggers_at(lower, starts)
        if leet:
            leet_openings, leet_starts = _word_openings(leet)
            openings = openings | leet_openings
            triggers = triggers or _triggers_at(leet, leet_starts)
        self.openings = openings
        self.bits = _bits_of(openings)
        self.triggers = triggers

    def search(self, pattern: Any) -> bool:
        """Does `pattern` match the canonical text or its leet view? Once per text and pattern."""
        key = id(pattern)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = _found_in(pattern, self.text) or (
                bool(self.leet_text) and _found_in(pattern, self.leet_text)
            )
        return found

    def brand(self, lists: CompiledLists) -> str:
        """`canonical.lookalike_brand` of the views and these lists' brands, once per text and
        lists (campaigns repeat their texts; the lists change with the policy's version)."""
        kept = self._brand
        if kept is not None and kept[0] is lists:
            return kept[1]
        found = lookalike_brand(self.views, lists.brands)
        self._brand = (lists, found)
        return found

    def gated(self, pattern: Any) -> bool:
        """`search` for a pattern gated on trigger words: False without one, and False without
        searching when the text has none of the pattern's own openings (`PATTERN_OPENINGS`).
        A pattern with a `Gate` is asked through `gate` (the signals hand `gate` theirs
        directly); any other is searched whenever the text has a trigger word."""
        gate = _GATES.get(id(pattern))
        if gate is not None:
            return self.gate(gate)
        return self.triggers and self.search(pattern)

    def gate(self, gate: Gate) -> bool:
        """`gated` of the gate's pattern, its openings and whether it is anchored read from the
        gate (compiled: native reads and an `and` of two bit sets, where `gated` boxed the
        pattern's id for two look-ups and asked `frozenset.isdisjoint` by a method call until
        session 11)."""
        if not self.triggers:
            return False
        if self.openings is not None:
            if not gate.bits & self.bits:  # none of the pattern's openings
                return False
            opened = self.opened
            if opened is not None and gate.anchored:
                # Every match starts at a word with one of its openings: tried there alone.
                key = gate.key
                found = self._found.get(key)
                if found is None:
                    found = self._found[key] = _matched_at(gate.pattern, self.text, gate.anchors, opened)
                return found
        return self.search(gate.pattern)


def _without_leading_boundary(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """`pattern` without the `\\b` its every match opens with, or None when it has no such `\\b`.

    `re` finds no literal start in a pattern that opens with `\\b` and so tries every position;
    without it, most patterns open with a set of literals that it skips to (several times
    faster). Checked on the parsed pattern: `\\b` first (also when the parser hoisted it out of
    every alternative) and the rest exactly the pattern's text after it."""
    try:
        # The stdlib's own parser, private: any failure, and the pattern is searched whole.
        _parser = importlib.import_module("re._parser")
        _constants = importlib.import_module("re._constants")

        whole = _parser.parse(pattern.pattern, pattern.flags).data
        if (
            not pattern.pattern.startswith("\\b")
            or not whole
            or whole[0] != (_constants.AT, _constants.AT_BOUNDARY)
        ):
            return None
        rest = re.compile(pattern.pattern[2:], pattern.flags)
        if repr(_parser.parse(rest.pattern, rest.flags).data) != repr(whole[1:]):
            return None  # the `\\b` opened only the first alternative
    except (ImportError, AttributeError, TypeError, re.error):
        return None
    return rest


# The text patterns by id, each without its opening `\\b` where that is exact (`_found_in`).
_BOUNDARY_FREE: dict[int, re.Pattern[str]] = {
    id(pattern): rest
    for pattern in vars(tp).values()
    if isinstance(pattern, re.Pattern) and (rest := _without_leading_boundary(pattern)) is not None
}


def _found_in(pattern: re.Pattern[str], text: str) -> bool:
    """`pattern.search(text) is not None`. A pattern that opens with `\\b` is searched without
    it (`_BOUNDARY_FREE`), and matched whole where that finds a start: it matches at a position
    exactly when the `\\b` holds there and the rest matches, so every position it can match at
    is tried, in order."""
    rest = _BOUNDARY_FREE.get(id(pattern))
    if rest is None:
        return pattern.search(text) is not None
    match = pattern.match
    position = 0
    while (found := rest.search(text, position)) is not None:
        start = found.start()
        if match(text, start) is not None:
            return True
        position = start + 1
    return False


def read_batch(forms: Iterable[TextForms]) -> None:
    """The rules' reading of each text not read yet, as `reading_of` gives it: the word
    openings of all of them found in one pass (`_batch_openings`) over their lower-case views,
    each after a NUL (no opening reaches across one: it is no word byte), instead of a pass per
    text (views with a leet view of their own add it after their canonical one). The ASCII
    canonical views are lower-cased together (`_lower_ascii`)."""
    plain: list[tuple[TextForms, TextViews]] = []  # ASCII canonical views first, then the rest
    wide: list[tuple[TextForms, TextViews]] = []
    leety: list[tuple[TextForms, TextViews]] = []  # with a leet view of their own (a few)
    for form in forms:
        if form.reading is None:
            views = form.views
            canonical_view = views.canonical
            if views.leet is not canonical_view and views.leet != canonical_view:
                leety.append((form, views))
            elif canonical_view.isascii():
                plain.append((form, views))
            else:
                wide.append((form, views))
    if not plain and not wide and not leety:
        return
    # The views as read, in order: the ASCII canonical views, the other canonical views, then
    # each leet text's canonical and leet view; and the bytes `_batch_openings` reads, each view
    # after one NUL (a separator as a space is: no opening reaches across it; one byte per
    # character, so a view's positions stay its own). The ASCII views are lower-cased together
    # and encoded as they are (a copy); only the others need `encode`'s replacement.
    ascii_data, lowers = _lower_ascii([views.canonical for _, views in plain])
    others = [views.canonical.lower() for _, views in wide]
    for _, views in leety:  # each as two texts: its canonical view, then its leet view
        others.append(views.canonical.lower())
        others.append(views.leet.lower())
    if others:
        lowers += others
        data = ascii_data + "\0".join(["", *others]).encode("ascii", "replace")
    else:
        data = ascii_data
    simple = plain + wide
    # Each view's openings with where their words start in it, in view order: the openings
    # come in the order of the data, and a view owns those before the separator after it.
    openings = _batch_openings(data)
    count = len(openings)
    j = 0
    start = 1  # where the view's first character is in `data`
    found: list[list[tuple[bytes, int]] | None] = []
    triggered: list[bool] = []  # whether a view has an opening of a trigger prefix
    anchors = _ANCHOR_OPENINGS
    for lower in lowers:
        end = start + len(lower)  # the separator after it
        opened: list[tuple[bytes, int]] | None = None
        trigger = False
        while j < count:
            space, opening = openings[j]
            if space >= end:
                break
            if opened is None:
                opened = []
            opened.append((opening, space + 1 - start))
            if opening not in anchors:
                trigger = True
            j += 1
        found.append(opened)
        triggered.append(trigger)
        start = end + 1
    for k, (form, views) in enumerate(simple):
        opened = found[k]
        if opened is None or not triggered[k]:  # (an anchor alone opens no gate)
            form.reading = TextReading(views, lowers[k], _NO_OPENINGS, False)
        else:
            lower = lowers[k]
            form.reading = TextReading(
                views,
                lower,
                frozenset([g for g, _ in opened if g not in anchors]),
                _triggers_at(lower, [i for g, i in opened if g not in anchors]),
                opened,  # with the anchors' words: where the anchored patterns are matched
            )
    k = len(simple)
    for form, views in leety:  # no positions kept: the anchors' words are of no use
        lower, leet = lowers[k], lowers[k + 1]
        in_lower = [(g, i) for g, i in found[k] or () if g not in anchors]
        in_leet = [(g, i) for g, i in found[k + 1] or () if g not in anchors]
        k += 2
        form.reading = TextReading(
            views,
            lower,
            frozenset([g for g, _ in in_lower + in_leet]) if in_lower or in_leet else _NO_OPENINGS,
            _triggers_at(lower, [i for _, i in in_lower]) or _triggers_at(leet, [i for _, i in in_leet]),
            None,
            leet,
        )


def _lower_ascii(texts: list[str]) -> tuple[bytes, list[str]]:
    """(the texts lower-cased, each after a NUL, as ASCII bytes; `[t.lower() for t in texts]`),
    in one pass: joined, lower-cased (letter by letter for ASCII), encoded (a copy) and split
    again. A text holding a NUL itself, where the split would not give the texts back, is
    lower-cased on its own (its bytes are the same either way)."""
    joined = "\0".join(["", *texts]).lower()
    data = joined.encode("ascii")
    if joined.count("\0") == len(texts):
        lowers = joined.split("\0")
        del lowers[0]
        return data, lowers
    return data, [text.lower() for text in texts]


def reading_of(forms: TextForms) -> TextReading:
    """The rules' reading of a text, kept with its other forms (`canonical.TextForms`)."""
    reading = forms.reading
    if reading is None:
        reading = forms.reading = TextReading(forms.views)
    return reading


def read_text(raw: str) -> TextReading:
    """The reading of `raw` (kept with its forms for the last few thousand texts: campaigns
    repeat theirs)."""
    return reading_of(text_forms(raw))


# ASCII bytes lower-cased, word characters kept and the rest a space (`_has_triggers`).
_ASCII_WORDS = (
    bytes(ord(chr(b).lower()) if chr(b).isalnum() or chr(b) == "_" else ord(" ") for b in range(128))
    + b" " * 128
)


def _opening_pattern(prefixes: tuple[str, ...]) -> re.Pattern[bytes]:
    """A space then one of `prefixes`, alternatives grouped by first letter (the regex
    engine tries a branch per letter, not per word)."""
    groups: dict[str, list[str]] = {}
    for prefix in sorted(set(prefixes), key=len, reverse=True):
        groups.setdefault(prefix[0], []).append(prefix[1:])
    branches = "|".join(
        re.escape(first) + "(?:" + "|".join(re.escape(rest) for rest in rests) + ")"
        for first, rests in groups.items()
    )
    return re.compile(f" (?:{branches})".encode("ascii"))


# The words whose openings are reported: the trigger prefixes and the anchored patterns' other
# first words (`tp.ANCHOR_PREFIXES`, which open no gate and are no trigger).
_PREFIXES: tuple[str, ...] = (*tp.TRIGGER_PREFIXES, *tp.ANCHOR_PREFIXES)
_ANCHOR_OPENINGS: Final[frozenset[bytes]] = frozenset(
    b" " + prefix.encode("ascii") for prefix in tp.ANCHOR_PREFIXES
)
# The openings of the trigger prefixes alone (a text read on its own: no positions kept), and of
# every reported word (what `_batch_openings` finds).
_TRIGGER_OPENING = _opening_pattern(tp.TRIGGER_PREFIXES)
_OPENING = _opening_pattern(_PREFIXES)


_NO_OPENINGS: frozenset[bytes] = frozenset()


def _openings_of(words: tuple[str, ...], prefixes: Iterable[str]) -> frozenset[bytes]:
    """The openings (a space, the prefix) among `prefixes` that a word of `words` is reported
    by: every prefix that starts with the word or that the word starts with."""
    return frozenset(
        b" " + prefix.encode("ascii")
        for prefix in prefixes
        if any(prefix.startswith(word) or word.startswith(prefix) for word in words)
    )


# Each gated pattern's openings as `_TRIGGER_OPENING` reports them (a space, the prefix), by
# the pattern's id (the patterns live as long as the module). At a word
# start the longest prefix that fits is reported (`giveaway`, not `give`), so a word
# opens the pattern with every prefix that starts with it or that it starts with.
_PATTERN_OPENINGS: dict[int, frozenset[bytes]] = {
    id(pattern): _openings_of(words, tp.TRIGGER_PREFIXES) for pattern, words in tp.PATTERN_OPENINGS.items()
}
# The gated patterns every match of which starts at a word with one of these openings (as
# reported, as for `_PATTERN_OPENINGS`), by id (`tp.ANCHORED_AT`).
_ANCHORS: dict[int, frozenset[bytes]] = {
    id(pattern): _openings_of(words, _PREFIXES) for pattern, words in tp.ANCHORED_AT.items()
}
# Each opening `_TRIGGER_OPENING` can report (` prefix`) as one bit: a reading's openings and a
# gated pattern's as two ints (57 prefixes: a compiled build's native int), tested by an `and`.
_OPENING_BITS: Final[dict[bytes, int]] = {
    b" " + prefix.encode("ascii"): 1 << i for i, prefix in enumerate(sorted(set(tp.TRIGGER_PREFIXES)))
}


def _bits_of(openings: frozenset[bytes] | None) -> int:
    """The openings as bits (`_OPENING_BITS`); every bit when there are none to go by (None)."""
    if openings is None:
        return -1
    bits = 0
    if not openings:  # most texts: no iterator made
        return bits
    for opening in openings:
        bits |= _OPENING_BITS[opening]
    return bits


class Gate:
    """A pattern gated on trigger words, with what `TextReading.gate` asks of it: its openings
    (`_PATTERN_OPENINGS`) as a set and as bits, the openings its every match starts at when it
    is matched there alone (`_ANCHORS`), its id (the key of the readings' answers). Built once
    per pattern (`_GATES`)."""

    __slots__ = ("anchored", "anchors", "bits", "key", "needed", "pattern")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.key = id(pattern)
        self.needed = _PATTERN_OPENINGS[self.key]
        self.bits = _bits_of(self.needed)
        anchors = _ANCHORS.get(self.key)
        self.anchored = anchors is not None
        self.anchors: frozenset[bytes] = self.needed if anchors is None else anchors


_GATES: dict[int, Gate] = {id(pattern): Gate(pattern) for pattern in tp.PATTERN_OPENINGS}
# The patterns the signals read, bound here once (compiled, `tp.X` is a module attribute look-up
# at every use: about 250 instructions).
_GIVEAWAY: Final = _GATES[id(tp.GIVEAWAY)]
_SEND_WALLET: Final = _GATES[id(tp.SEND_WALLET)]
_SEED_PHRASE: Final = _GATES[id(tp.SEED_PHRASE)]
_DOUBLING: Final = _GATES[id(tp.DOUBLING)]
_RECOVERY: Final = _GATES[id(tp.RECOVERY)]
_SUPPORT: Final = _GATES[id(tp.SUPPORT)]
_PRIZE: Final = _GATES[id(tp.PRIZE)]
_CRYPTO: Final = tp.CRYPTO
_URGENCY: Final = tp.URGENCY
_PHONE: Final = tp.PHONE
_TEXT_TRIGGERS: Final = tp.TEXT_TRIGGERS


# ASCII bytes with their upper-case letters lower-cased and every byte outside ASCII a space
# (`_batch_openings` reads lower-case ASCII; it folds what is not).
_FOLD_ASCII = bytes(b + 32 if 65 <= b <= 90 else (b if b < 128 else 32) for b in range(256))
_KEY_BITS = 7  # an ASCII byte: a word's first three bytes as one 21-bit key


def _heads(prefixes: Iterable[str]) -> tuple[np.ndarray, dict[int, tuple[tuple[bytes, bytes], ...]]]:
    """For `_batch_openings`: a look-up table, by the key of a word's first three bytes
    (`b0 | b1 << 7 | b2 << 14`, lower-case ASCII), of whether a prefix opens with them (a prefix
    of two bytes with its two and any third); and by key the prefixes that do, longest first
    (the one `_OPENING` reports at a word), each as itself and as ` prefix`."""
    table = np.zeros(1 << (3 * _KEY_BITS), dtype=np.bool_)
    by_key: dict[int, list[tuple[bytes, bytes]]] = {}
    for prefix in sorted(set(prefixes), key=len, reverse=True):
        word = prefix.encode("ascii")
        if len(word) < 2 or word.translate(_ASCII_WORDS) != word or b" " in word:
            raise ValueError(f"trigger prefix {prefix!r} is not two or more word characters in lower case")
        for third in [word[2]] if len(word) >= 3 else range(128):
            key = word[0] | word[1] << _KEY_BITS | third << (2 * _KEY_BITS)
            table[key] = True
            by_key.setdefault(key, []).append((word, b" " + word))
    return table, {key: tuple(words) for key, words in by_key.items()}


_HEADS, _BY_KEY = _heads(_PREFIXES)


def _batch_openings(data: bytes) -> list[tuple[int, bytes]]:
    """`[(m.start(), m.group()) for m in _OPENING.finditer(data.translate(_ASCII_WORDS))]` (the
    trigger prefixes and `tp.ANCHOR_PREFIXES`):
    the regex tries its alternatives at every space, a few hundred instructions each. Here, on
    lower-case ASCII (anything else is folded to it first), numpy finds the word starts by
    comparisons (a word byte is a letter, a digit or `_`), reads the four bytes from each
    word's preceding byte at once (a 32-bit view at every byte offset: one gather), and looks
    the key of the word's first three bytes up in one table (`_heads`): a few words in a
    hundred pass. A prefix of two or three bytes is then exact; a longer one is compared,
    longest first (as the regex's branches are ordered). For a batch's texts joined: one pass
    for all, no `translate` of the bytes (about 8 instructions a byte)."""
    n = len(data)
    if n < 2:
        return []
    padded = data + b"\0\0\0"  # every word start has four bytes
    codes = np.frombuffer(padded, dtype=np.uint8)[:n]
    if not data.isascii() or ((codes - 65) < 26).any():  # upper case, or bytes outside ASCII
        padded = data.translate(_FOLD_ASCII) + b"\0\0\0"
        codes = np.frombuffer(padded, dtype=np.uint8)[:n]
    # uint8 arithmetic wraps: `codes - 97 < 26` is a to z.
    word = ((codes - 97) < 26) | ((codes - 48) < 10) | (codes == 95)
    spaces = np.flatnonzero(word[1:] > word[:-1])  # a byte that is not a word's, then one that is
    quads = np.ndarray((n,), dtype="<u4", buffer=padded, strides=(1,))[spaces]  # space, b0, b1, b2
    keys = (
        ((quads >> 8) & 0x7F)
        | ((quads >> (16 - _KEY_BITS)) & (0x7F << _KEY_BITS))
        | ((quads >> (24 - 2 * _KEY_BITS)) & (0x7F << (2 * _KEY_BITS)))
    )
    hit = np.flatnonzero(_HEADS[keys])
    out: list[tuple[int, bytes]] = []
    by_key = _BY_KEY
    found_spaces: list[int] = spaces[hit].tolist()
    found_keys: list[int] = keys[hit].tolist()
    for i in range(len(found_spaces)):  # an index loop: compiled, native ints throughout
        space = found_spaces[i]
        start = space + 1
        for prefix, opening in by_key[found_keys[i]]:
            size = len(prefix)
            if size <= 3 or padded[start : start + size] == prefix:
                out.append((space, opening))
                break
    return out


def _word_openings(lower: str) -> tuple[frozenset[bytes], list[int]]:
    """(the `TRIGGER_PREFIXES` that words of a lower-case text start with, as ` prefix` (the
    longest one where two fit: `giveaway`, not `give`); the positions of those words), in one
    C-level pass. The prefixes are ASCII; every other character stands as `?` (`encode`'s
    replacement, one byte per character, so positions stay those of `lower`) and, like every
    character that is not an ASCII letter, digit or `_`, separates words: a word a letter
    outside ASCII runs into may be reported too (a superset: `\b` is checked where it is
    matched, `_triggers_at`), and none that starts a word is missed."""
    data = b" " + lower.encode("ascii", "replace").translate(_ASCII_WORDS)
    found = list(_TRIGGER_OPENING.finditer(data))
    if not found:
        return _NO_OPENINGS, []
    # The match's space is the byte before the word: the word's index in `lower`.
    return frozenset([m.group() for m in found]), [m.start() for m in found]


def _triggers_at(lower: str, starts: list[int]) -> bool:
    """`TEXT_TRIGGERS` in a lower-case text whose words that open with one of
    `TRIGGER_PREFIXES` start at `starts`: every match of the pattern starts at one of them,
    so it is tried there alone (a match at a few positions instead of a search at every one)."""
    match = _TEXT_TRIGGERS.match
    # A loop, not `any` over a generator: one left at its first hit is closed by throwing
    # GeneratorExit into it, a traceback and all (about 3 k instructions pure).
    for start in starts:  # noqa: SIM110
        if match(lower, start) is not None:
            return True
    return False


def _matched_at(pattern: Any, text: str, anchors: frozenset[bytes], opened: list[tuple[bytes, int]]) -> bool:
    """Does `pattern` match `text` at one of the `opened` words whose opening is one of its
    `anchors` (`Gate.anchors`, `TextReading.gate`)? A loop for `_triggers_at`'s reason."""
    match = pattern.match
    for opening, at in opened:  # noqa: SIM110
        if opening in anchors and match(text, at) is not None:
            return True
    return False


def _has_triggers(lower: str) -> bool:
    """`TEXT_TRIGGERS` searched in a lower-case text: does a word start with one of
    `TRIGGER_PREFIXES` (a superset)? Most texts answer no in one C-level pass; the rest are
    matched at those words only (`_triggers_at`)."""
    return _triggers_at(lower, _word_openings(lower)[1])


class SignalContext:
    """The signals of one post, computed on first use and cached."""

    __slots__ = (
        "_forms",
        "_listed",
        "_reading",
        "_triggers",
        "_values",
        "behaviour",
        "lists",
        "media_score",
        "post",
        "text_score",
    )

    def __init__(
        self,
        post: Post,
        behaviour: PostSignals,
        lists: CompiledLists,
        text_score: float | None = None,
        media_score: float | None = None,
        forms: TextForms | None = None,
    ) -> None:
        """`forms`: the post text's shared forms when the caller has them (`PostScorer`)."""
        self.post = post
        self._forms = forms
        self.behaviour = behaviour
        self.lists = lists
        self.text_score = text_score
        self.media_score = media_score
        self._values: dict[str, Any] = {}
        self._reading: TextReading | None = None
        self._listed: list[tuple[str, DomainFacts]] | None = None
        self._triggers: bool | None = None  # overrides the reading's (tests force every pattern)

    def get(self, name: str) -> Any:
        values = self._values
        value = values.get(name, _MISSING)
        if value is _MISSING:
            value = values[name] = SIGNALS[name].compute(self)
        return value

    @property
    def reading(self) -> TextReading:
        reading = self._reading
        if reading is None:
            forms = self._forms or text_forms(self.post.text)
            reading = forms.reading
            if reading is None:
                reading = forms.reading = TextReading(forms.views)
            self._reading = reading
        return reading

    def missing(self) -> frozenset[str]:
        """The preconditions (`PRECONDITIONS`) this post lacks: signals requiring them are zero."""
        lacking = []
        if not self.has_trigger_words:
            lacking.append("trigger_words")
        if not self.post.domains:
            lacking.append("domains")
        if not self.listed_domain:
            lacking.append("listed_domain")
        if not self.rewritten:
            lacking.append("rewritten")
        return frozenset(lacking)

    @property
    def listed(self) -> list[tuple[str, DomainFacts]]:
        """The post's linked domains that the policy's lists say something of, in link order."""
        listed = self._listed
        if listed is None:
            facts = self.lists.facts
            listed = self._listed = [(d, f) for d in self.post.domains if (f := facts(d)) is not None]
        return listed

    @property
    def listed_domain(self) -> bool:
        """Is a linked domain on one of the policy's lists, or imitating one of its brands?"""
        return bool(self.post.domains) and bool(self.listed)

    @property
    def views(self) -> TextViews:
        """The canonical views of the text and its evasion evidence (`canonical.py`)."""
        return self.reading.views

    @property
    def text(self) -> str:
        """The canonical text, lower-cased (the patterns are lower case): `frее аirdrop` with
        Cyrillic letters, `f r e e` or `ｆｒｅｅ` read as `free`."""
        return self.reading.text

    @property
    def leet_text(self) -> str:
        """The leet view, lower-cased (`fr33` read as `free`); '' when it equals `text`."""
        return self.reading.leet_text

    @property
    def rewritten(self) -> bool:
        """Does the canonical or leet view differ from the raw text (the `rewritten` precondition)?"""
        return self.reading.rewritten

    def search(self, pattern: Any) -> bool:
        """Does `pattern` match the canonical text or its leet view?"""
        return self.reading.search(pattern)

    @property
    def has_trigger_words(self) -> bool:
        if self._triggers is None:
            return self.reading.triggers
        return self._triggers


def _gated(ctx: SignalContext, gate: Gate) -> bool:
    forced = ctx._triggers
    if forced is not None:  # forced (tests): every pattern searched when True
        return forced and ctx.search(gate.pattern)
    return ctx.reading.gate(gate)


# -- text -------------------------------------------------------------------------------
@signal(
    "giveaway_language", "bool", "giveaway, airdrop, free crypto or 'claim your'", requires="trigger_words"
)
def _giveaway(ctx: SignalContext) -> bool:
    return _gated(ctx, _GIVEAWAY)


@signal("crypto_language", "bool", "a $TICKER or a crypto word (btc, eth, token, wallet, nft...)")
def _crypto(ctx: SignalContext) -> bool:
    return ctx.search(_CRYPTO)


@signal(
    "wallet_request_language",
    "bool",
    "asks people to drop, connect or verify a wallet",
    requires="trigger_words",
)
def _wallet_request(ctx: SignalContext) -> bool:
    return _gated(ctx, _SEND_WALLET)


@signal(
    "seed_phrase_language",
    "bool",
    "mentions a seed phrase, recovery phrase or private key",
    requires="trigger_words",
)
def _seed_phrase(ctx: SignalContext) -> bool:
    return _gated(ctx, _SEED_PHRASE)


@signal("doubling_language", "bool", "'send X, get 2X back'", requires="trigger_words")
def _doubling(ctx: SignalContext) -> bool:
    return _gated(ctx, _DOUBLING)


@signal("recovery_language", "bool", "offers to recover lost or stolen funds", requires="trigger_words")
def _recovery(ctx: SignalContext) -> bool:
    return _gated(ctx, _RECOVERY)


@signal(
    "support_language",
    "bool",
    "support-desk language (support team, help desk, dm us for)",
    requires="trigger_words",
)
def _support(ctx: SignalContext) -> bool:
    return _gated(ctx, _SUPPORT)


@signal("prize_language", "bool", "you've won, winner, prize, claim now", requires="trigger_words")
def _prize(ctx: SignalContext) -> bool:
    return _gated(ctx, _PRIZE)


@signal("urgency_language", "bool", "act now, limited time, only N minutes, last chance")
def _urgency(ctx: SignalContext) -> bool:
    return ctx.search(_URGENCY)


@signal("phone_number", "bool", "a phone number in the text")
def _phone(ctx: SignalContext) -> bool:
    return ctx.search(_PHONE)


# -- evasion: writing around filters is evidence too (canonical.EvasionEvidence) -------------
@signal(
    "mixed_script_words",
    "int",
    "words spelled with lookalike letters of another script ('frее')",
    requires="rewritten",
)
def _mixed_script_words(ctx: SignalContext) -> int:
    return ctx.views.evidence.mixed_script_words


@signal(
    "invisible_in_words",
    "int",
    "invisible characters (zero-width, soft hyphen) inside Latin words",
    requires="rewritten",
)
def _invisible_in_words(ctx: SignalContext) -> int:
    return ctx.views.evidence.invisible_in_words


@signal(
    "fullwidth_latin",
    "int",
    "full-width Latin letters outside Chinese, Japanese or Korean writing",
    requires="rewritten",
)
def _fullwidth_latin(ctx: SignalContext) -> int:
    return ctx.views.evidence.fullwidth_latin


@signal("spaced_out_words", "int", "words written letter by letter ('f r e e')", requires="rewritten")
def _spaced_out_words(ctx: SignalContext) -> int:
    return ctx.views.evidence.spaced_out_words


@signal(
    "leet_words", "int", "words with digits or symbols for letters ('fr33', '4irdr0p')", requires="rewritten"
)
def _leet_words(ctx: SignalContext) -> int:
    return ctx.views.evidence.leet_words


@signal(
    "brand_lookalike_text",
    "str",
    "an impersonated brand the text spells with lookalikes ('' if none)",
    requires="rewritten",
)
def _brand_lookalike_text(ctx: SignalContext) -> str:
    return ctx.reading.brand(ctx.lists)


# -- the post's shape -------------------------------------------------------------------
expression_signal(
    "has_link", "bool", "the post carries a link (facet or external embed)", "bool(ctx.post.links)"
)
expression_signal("has_mention", "bool", "the post mentions an account", "bool(ctx.post.mentions)")
expression_signal("has_media", "bool", "the post carries images or video", "bool(ctx.post.media_paths)")


# -- link domains (policy lists) ---------------------------------------------------------
@signal(
    "lookalike_domain",
    "str",
    "a linked domain imitating an impersonated brand ('' if none)",
    requires="listed_domain",
)
def _lookalike_domain(ctx: SignalContext) -> str:
    return next((d for d, facts in ctx.listed if facts.lookalike_brand), "")


@signal(
    "lookalike_brand",
    "str",
    "the brand the lookalike domain imitates ('' if none)",
    requires="listed_domain",
)
def _lookalike_brand(ctx: SignalContext) -> str:
    return next((facts.lookalike_brand for _, facts in ctx.listed if facts.lookalike_brand), "")


@signal("punycode_domain", "str", "a linked punycode (xn--) domain ('' if none)", requires="listed_domain")
def _punycode(ctx: SignalContext) -> str:
    return next((d for d, facts in ctx.listed if facts.punycode), "")


@signal("shortener_domain", "str", "a linked URL shortener ('' if none)", requires="listed_domain")
def _shortener(ctx: SignalContext) -> str:
    return next((d for d, facts in ctx.listed if facts.shortener), "")


@signal(
    "high_abuse_tld_domain",
    "str",
    "a linked domain on a high-abuse TLD ('' if none)",
    requires="listed_domain",
)
def _high_abuse_tld(ctx: SignalContext) -> str:
    return next((d for d, facts in ctx.listed if facts.high_abuse_tld), "")


@signal(
    "scam_domain",
    "str",
    "a linked known scam domain or a subdomain of one ('' if none)",
    requires="listed_domain",
)
def _scam_domain(ctx: SignalContext) -> str:
    return next((d for d, facts in ctx.listed if facts.scam), "")


# -- behaviour over the stream ------------------------------------------------------------
expression_signal(
    "account_posts_window",
    "int",
    "posts by this account in the behaviour window, this one included",
    "behaviour.account_posts_window",
)
expression_signal(
    "account_is_new",
    "bool",
    "the account was first seen in the stream within the policy's new_account_s",
    "behaviour.account_is_new",
)
expression_signal(
    "account_flagged",
    "bool",
    "the author's account verdict is review or label (accounts/tracker.py)",
    "behaviour.account_action != 'none'",
)
expression_signal(
    "account_action", "str", "the author's account verdict: label, review or none", "behaviour.account_action"
)
expression_signal(
    "account_evidence",
    "float",
    "what a post inherits from its account's verdict (accounts.post_weight)",
    "behaviour.account_evidence",
)
expression_signal(
    "media_reuse_accounts",
    "int",
    "most distinct accounts sharing one of this post's images",
    "behaviour.media_reuse_accounts",
)
expression_signal(
    "campaign_accounts",
    "int",
    "distinct accounts that posted this text's fingerprint in the window",
    "behaviour.campaign_accounts",
)
expression_signal(
    "in_campaign",
    "bool",
    "the post's strongest group (text, near-duplicates, image) reached the campaign bar",
    "behaviour.campaign_id is not None",
)
expression_signal(
    "campaign_new_accounts",
    "int",
    "accounts first seen recently in the post's strongest campaign group",
    "behaviour.campaign_new_accounts",
)
expression_signal(
    "campaign_span_s",
    "float",
    "seconds from the first to the last post of the strongest campaign group",
    "behaviour.campaign_span_s",
)
expression_signal(
    "campaign_shared_domain",
    "bool",
    "most accounts of the strongest campaign group link one domain",
    "behaviour.campaign_shared_domain",
)
expression_signal(
    "near_duplicate_accounts",
    "int",
    "distinct accounts whose text is a near-duplicate (MinHash LSH band)",
    "behaviour.near_duplicate_accounts",
)
expression_signal(
    "campaign_evidence",
    "float",
    "0..1: accounts, new accounts, time concentration, shared domain",
    "behaviour.campaign_evidence",
)


# -- model scores ---------------------------------------------------------------------------
expression_signal(
    "text_score", "float", "the text model's probability (0 when unavailable)", "ctx.text_score or 0.0"
)
expression_signal(
    "media_score",
    "float",
    "the media model's probability (0 when unavailable or no media)",
    "ctx.media_score or 0.0",
)
