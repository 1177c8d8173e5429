"""The text patterns behind the text signals (giveaway language, wallet requests, ...).

They are how a signal is computed, not judgement: which signals matter, how much and when
is the detection policy's (policy/rules.yaml). Patterns are lower case and run on the
lower-cased text (several times faster than re.I).
"""

from __future__ import annotations

import re

GIVEAWAY = re.compile(
    r"\b(giveaway|airdrop|free\s+(?:crypto|btc|eth|sol|tokens?|nft)|claim\s+your|claim[-\s]rewards?)\b"
)
CRYPTO = re.compile(r"(\$[a-z]{2,10}\b|\b(?:btc|eth|sol|usdt|usdc|crypto|token|wallet|nft)s?\b)")
# Imperatives aimed at the reader's wallet ("drop your SOL wallet", "connect wallet").
SEND_WALLET = re.compile(
    r"\b(?:drop|send|post|share|paste|comment)\s+(?:me\s+)?(?:your|ur|yr|ya)\s+(?:\S+\s+){0,3}?"
    r"(?:wallet|seed|phrase|(?:sol|eth|btc|crypto|wallet)\s+address)"
    r"|\b(?:connect|verify|validate|sync|link|import)\s+(?:your\s+|ur\s+)?(?:\S+\s+)?wallets?\b",
    re.S,
)
# "Send 0.1 BTC, get 0.2 back": the doubling giveaway the text model misses (too few examples).
DOUBLING = re.compile(
    r"\b(?:send|deposit|transfer)\s+(?:any(?:\s+amount)?|[\d.,]+\s*\$?(?:btc|eth|sol|usdt|usdc|bnb|doge|xrp|ada|ltc)?)"
    r".{0,60}?\b(?:get|receive|return|send you)\b.{0,30}?"
    r"(?:\b2x\b|double|twice|back\s+[\d.,]+|[\d.,]+\s*(?:btc|eth|sol|usdt|usdc|bnb|doge|xrp|ada|ltc)?\s*back)"
    # The multiplier said without the sender's half: "2x back", "send you back double",
    # "double your btc", "we return 3x".
    r"|\b(?:[2-9]|10)x\s+back\b(?!\s+to\s+back)|\bx[2-9]\s+back\b"
    r"|\b(?:send|give|pay|return)(?:s|ing)?\s+(?:you\s+|it\s+)?back\s+(?:\S+\s+){0,2}?"
    r"(?:double|twice|triple|[2-9]x)\b"
    r"|\b(?:double|triple)\s+(?:your|ur|yr)\s+(?:\S+\s+)?"
    r"(?:crypto|btc|eth|sol|usdt|usdc|bnb|doge|xrp|coins?|tokens?|deposits?|investment)\b"
    # A coin and a multiplier run together, as campaign domains and hashtags write it ("eth-double").
    r"|\b(?:btc|eth|sol|bnb|doge|xrp|crypto)[-_]?(?:double|x2|2x)\b",
    re.S,
)
SEED_PHRASE = re.compile(r"\b(seed\s*phrase|recovery\s*phrase|private\s*key|12[- ]word|24[- ]word)\b")
RECOVERY = re.compile(
    r"\b(recover(?:y|ed)?\s+(?:your\s+)?(?:lost|stolen|scammed)|lost\s+funds|funds?\s+recovery|"
    r"recovery\s+(?:experts?|agents?|agency|specialists?)|hacked\s+(?:account|wallet)s?|get\s+your\s+money\s+back)\b",
)
SUPPORT = re.compile(
    r"\b(support\s+team|customer\s+(?:care|support|service)|help\s*desk|contact\s+(?:us|support)|dm\s+(?:us|me)\s+for"
    # A desk to call: "call <brand> support now", "support line", "support number". Public
    # helplines and hotlines (crisis lines post their numbers) are left out on purpose.
    r"|call\s+(?:\S+\s+){0,2}?support|support\s*(?:line|number|hotline)s?)\b",
)
PHONE = re.compile(r"(?:\+?\d[\d\s().-]{8,}\d)")
URGENCY = re.compile(
    r"\b(only\s+\d+\s+(?:min|minutes|hours?|spots?)|act\s+now|limited\s+time|expires?\s+(?:soon|today)|last\s+chance|hurry|urgent)\b",
)
PRIZE = re.compile(r"\b(you(?:'ve| have)?\s+won|winner|prize|claim\s+(?:now|your)|cash\s+reward)\b")


# Every word the gated patterns need (GIVEAWAY, SEND_WALLET, DOUBLING, SEED_PHRASE, RECOVERY,
# SUPPORT, PRIZE): one cheap search lets most benign posts skip them altogether. Keep it a
# superset of what those patterns need to match (a test checks it on the labelled data).
# Each of those words starts at a word boundary in every match of the patterns (after `\b`,
# a space or a hyphen), so the search only tries word starts: twice as fast as anywhere.
TEXT_TRIGGERS = re.compile(
    r"\b(?:giveaway|airdrop|free|claim|wallet|address|seed|phrase|private|word|recover|funds|hacked|money|"
    r"send|deposit|transfer|"
    r"support|care|help|desk|contact|dm\b|won|winner|prize|cash|"
    r"customer|[2-9]x|10x|x[2-9]|(?:give|pay|return)\w*\s+(?:you\s+|it\s+)?back|"
    r"(?:double|triple)\s+(?:your|ur|yr)|(?:btc|eth|sol|bnb|doge|xrp|crypto)[-_]?(?:double|x2|2x))"
)

# What every match of the doubling alternatives starts with (multipliers, "give/pay/return ...
# back", "double/triple your", a coin name): shared by TRIGGER_PREFIXES and DOUBLING's openings.
_DOUBLING_OPENINGS: tuple[str, ...] = (
    *(f"{n}x" for n in range(2, 11)),
    *(f"x{n}" for n in range(2, 10)),
    "give",
    "pay",
    "return",
    "double",
    "triple",
    "btc",
    "eth",
    "sol",
    "bnb",
    "doge",
    "xrp",
    "crypto",
)

# What every match of TEXT_TRIGGERS starts with, at the start of a word (each alternative's
# literal opening): an ASCII text none of whose words starts with one of these has no trigger
# word, which a few C-level passes tell (`signal_registry._has_triggers`) where the search
# costs several times as much. Keep it in step with TEXT_TRIGGERS (a test checks every
# alternative of the pattern against it, and the two agree on the labelled data).
TRIGGER_PREFIXES: tuple[str, ...] = (
    "giveaway",
    "airdrop",
    "free",
    "claim",
    "wallet",
    "address",
    "seed",
    "phrase",
    "private",
    "word",
    "recover",
    "funds",
    "hacked",
    "money",
    "send",
    "deposit",
    "transfer",
    "support",
    "care",
    "help",
    "desk",
    "contact",
    "dm",
    "won",
    "winner",
    "prize",
    "cash",
    "customer",
    *_DOUBLING_OPENINGS,
)


# Per gated pattern, the `TRIGGER_PREFIXES` of which every match holds one at the start of a
# word (after `\b`, or after whitespace inside the pattern): an ASCII text none of whose
# words starts with one of them cannot match, and the pattern is not searched
# (`signal_registry.TextReading.gated`). Keep each in step with its pattern: a test checks,
# on the labelled data and its rewrites, that the pattern never matches where they are absent.
PATTERN_OPENINGS: dict[re.Pattern[str], tuple[str, ...]] = {
    GIVEAWAY: ("giveaway", "airdrop", "free", "claim"),
    # "... your (sol) wallet / seed / phrase / address", "connect (your) (x) wallet"
    SEND_WALLET: ("wallet", "seed", "phrase", "address"),
    SEED_PHRASE: ("seed", "recover", "private", "word"),
    DOUBLING: (
        "send",
        "deposit",
        "transfer",
        *_DOUBLING_OPENINGS,
    ),
    RECOVERY: ("recover", "funds", "hacked", "money"),
    SUPPORT: ("support", "customer", "help", "contact", "dm"),
    PRIZE: ("won", "winner", "prize", "claim", "cash"),
}

# Words that some gated patterns' matches start at and that are no trigger words ("call <brand>
# support"): reported as word openings too (`signal_registry`), so that those patterns are
# matched at their words alone (ANCHORED_AT); they gate nothing and are no trigger. (Not `you`,
# which PRIZE's "you('ve| have) won" starts at: a word in every few, whose openings cost more to
# hand round than PRIZE's search.)
ANCHOR_PREFIXES: tuple[str, ...] = ("call",)

# The gated patterns every match of which starts at a word that opens with one of these words
# (each alternative is `\b` and then one of them, or a word one of them opens), with those
# words: matched only at the words that do (`signal_registry.TextReading.gate`), not searched at
# every position (DOUBLING opens with no literal, so a search tries each character; SUPPORT
# with common letters). Keep it true of each: a test checks every match on the labelled data,
# its rewrites and made-up texts.
ANCHORED_AT: dict[re.Pattern[str], tuple[str, ...]] = {
    GIVEAWAY: PATTERN_OPENINGS[GIVEAWAY],
    DOUBLING: PATTERN_OPENINGS[DOUBLING],
    SUPPORT: (*PATTERN_OPENINGS[SUPPORT], "call"),  # "call <brand> support"
}
