"""Rules: named, explainable checks a trust-and-safety analyst can read and tune.

Each rule looks at the post and its behavioural signals and, when it fires, adds a label
(the kind of fraud), a reason (a sentence for the reviewer) and a weight (how much it moves
the fraud score). Rules complement the models: they catch what a text model cannot see
(campaign spread, reused images, lookalike domains) and they explain verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fraud_pipeline.records import Post
from fraud_pipeline.scoring.signals import PostSignals

URL_SHORTENERS = frozenset(
    {
        "bit.ly",
        "tinyurl.com",
        "t.co",
        "goo.gl",
        "ow.ly",
        "is.gd",
        "cutt.ly",
        "rebrand.ly",
        "rb.gy",
        "shorturl.at",
    }
)
# TLDs over-represented in phishing and drainer campaigns.
RISKY_TLDS = frozenset(
    {
        "xyz",
        "top",
        "click",
        "live",
        "site",
        "online",
        "icu",
        "buzz",
        "rest",
        "cfd",
        "sbs",
        "lol",
        "shop",
        "vip",
    }
)
# Brands that scammers impersonate in lookalike domains (the real domains are allowed).
IMPERSONATED_BRANDS = {
    "metamask": {"metamask.io"},
    "coinbase": {"coinbase.com"},
    "binance": {"binance.com"},
    "phantom": {"phantom.app", "phantom.com"},
    "opensea": {"opensea.io"},
    "uniswap": {"uniswap.org", "app.uniswap.org"},
    "ledger": {"ledger.com"},
    "trezor": {"trezor.io"},
    "bsky": {"bsky.app", "bsky.social"},
    "bluesky": {"bsky.app", "blueskyweb.xyz"},
    "paypal": {"paypal.com"},
    "moonbirds": {"moonbirds.xyz"},
}

# The text patterns are lower case and run on the lower-cased text (several times faster than re.I).
_GIVEAWAY = re.compile(r"\b(giveaway|airdrop|free\s+(?:crypto|btc|eth|sol|tokens?|nft)|claim\s+your)\b")
_CRYPTO = re.compile(r"(\$[a-z]{2,10}\b|\b(?:btc|eth|sol|usdt|usdc|crypto|token|wallet|nft)s?\b)")
# Imperatives aimed at the reader's wallet ("drop your SOL wallet", "connect wallet").
_SEND_WALLET = re.compile(
    r"\b(?:drop|send|post|share|paste|comment)\s+(?:me\s+)?(?:your|ur|yr|ya)\s+(?:\S+\s+){0,3}?"
    r"(?:wallet|seed|phrase|(?:sol|eth|btc|crypto|wallet)\s+address)"
    r"|\b(?:connect|verify|validate|sync|link|import)\s+(?:your\s+|ur\s+)?(?:\S+\s+)?wallets?\b",
    re.S,
)
# "Send 0.1 BTC, get 0.2 back": the doubling giveaway the text model misses (too few examples).
_DOUBLING = re.compile(
    r"\b(?:send|deposit|transfer)\s+(?:any(?:\s+amount)?|[\d.,]+\s*\$?(?:btc|eth|sol|usdt|usdc|bnb|doge|xrp)?)"
    r".{0,60}?\b(?:get|receive|return|send you)\b.{0,30}?"
    r"(?:\b2x\b|double|twice|back\s+[\d.,]+|[\d.,]+\s*(?:btc|eth|sol|usdt|usdc)?\s*back)",
    re.S,
)
_SEED_PHRASE = re.compile(r"\b(seed\s*phrase|recovery\s*phrase|private\s*key|12[- ]word|24[- ]word)\b")
_RECOVERY = re.compile(
    r"\b(recover(?:y|ed)?\s+(?:your\s+)?(?:lost|stolen|scammed)|lost\s+funds|funds?\s+recovery|"
    r"recovery\s+experts?|hacked\s+account|get\s+your\s+money\s+back)\b",
)
_SUPPORT = re.compile(
    r"\b(support\s+team|customer\s+(?:care|support)|help\s*desk|contact\s+(?:us|support)|dm\s+(?:us|me)\s+for)\b",
)
_PHONE = re.compile(r"(?:\+?\d[\d\s().-]{8,}\d)")
_URGENCY = re.compile(
    r"\b(only\s+\d+\s+(?:min|minutes|hours?|spots?)|act\s+now|limited\s+time|expires?\s+(?:soon|today)|last\s+chance|hurry|urgent)\b",
)
_PRIZE = re.compile(r"\b(you(?:'ve| have)?\s+won|winner|prize|claim\s+(?:now|your)|cash\s+reward)\b")


# Every word the text rules below look for: one cheap search lets most benign posts skip
# the text rules altogether. Keep it a superset of what those rules' patterns need. It runs
# on the lower-cased text without re.I, which is several times faster than re.I.
_TEXT_TRIGGERS = re.compile(
    r"giveaway|airdrop|free|claim|wallet|address|seed|phrase|private|word|recover|funds|hacked|money|"
    r"send|deposit|transfer|"
    r"support|care|help|desk|contact|\bdm\b|won|winner|prize|cash"
)


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    label: str
    reason: str
    weight: float  # 0..1, combined as independent evidence


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    label: str
    weight: float
    check: Callable[[Post, PostSignals, str], str | None]  # (post, signals, lower-cased text) -> reason
    needs: str = "always"  # "text": only when the text has trigger words; "domains": only with links


def _lookalike_domain(domain: str) -> str | None:
    for brand, real in IMPERSONATED_BRANDS.items():
        if (
            brand in domain.replace("-", "")
            and domain not in real
            and not any(domain.endswith("." + r) for r in real)
        ):
            return brand
    return None


def _check_giveaway(post: Post, _: PostSignals, text: str) -> str | None:
    if _GIVEAWAY.search(text) and (_CRYPTO.search(text) or _SEND_WALLET.search(text)):
        return "crypto giveaway/airdrop language"
    return None


def _check_wallet_request(post: Post, _: PostSignals, text: str) -> str | None:
    if _SEED_PHRASE.search(text):
        return "asks about a seed phrase or private key"
    if _SEND_WALLET.search(text):
        return "asks people to drop, connect or verify a wallet"
    return None


def _check_doubling(post: Post, _: PostSignals, text: str) -> str | None:
    return "promises to send back double what you send" if _DOUBLING.search(text) else None


def _check_recovery(post: Post, _: PostSignals, text: str) -> str | None:
    return "offers to recover lost or stolen funds" if _RECOVERY.search(text) else None


def _check_fake_support(post: Post, _: PostSignals, text: str) -> str | None:
    if _SUPPORT.search(text) and (_PHONE.search(text) or post.links or post.mentions):
        return "support-desk language with a contact route"
    return None


def _check_lookalike(post: Post, _: PostSignals, text: str) -> str | None:
    for domain in post.domains:
        brand = _lookalike_domain(domain)
        if brand:
            return f"link to {domain}, a lookalike of {brand}"
        if domain.startswith("xn--") or ".xn--" in domain:
            return f"link to punycode domain {domain}"
    return None


def _check_risky_link(post: Post, _: PostSignals, text: str) -> str | None:
    for domain in post.domains:
        if domain in URL_SHORTENERS:
            return f"link hidden behind shortener {domain}"
        if domain.rsplit(".", 1)[-1] in RISKY_TLDS:
            return f"link to {domain} on a high-abuse TLD"
    return None


def _check_prize(post: Post, _: PostSignals, text: str) -> str | None:
    if _PRIZE.search(text) and (_URGENCY.search(text) or _PHONE.search(text) or post.links):
        return "prize claim with urgency or a contact route"
    return None


def _check_campaign(post: Post, signals: PostSignals, text: str) -> str | None:
    # Benign texts repeat too (greetings, lyrics, copypasta); a campaign pushes somewhere:
    # a link, a mention or media. Even then it only adds weight to other evidence.
    if signals.campaign_id is not None and (post.links or post.mentions or post.media_paths):
        return f"same text with a link, mention or media from {signals.campaign_accounts} accounts in minutes"
    return None


def _check_media_reuse(post: Post, signals: PostSignals, text: str) -> str | None:
    if signals.media_reuse_accounts >= 3:
        return f"same image posted by {signals.media_reuse_accounts} accounts within minutes"
    return None


def _check_burst(post: Post, signals: PostSignals, text: str) -> str | None:
    if signals.account_posts_window >= 20 and (post.links or post.mentions):
        return f"account posted {signals.account_posts_window} times in the window, with links or mentions"
    return None


RULES: tuple[Rule, ...] = (
    Rule("crypto_giveaway", "crypto-scam", 0.25, _check_giveaway, "text"),
    Rule("wallet_request", "wallet-drainer", 0.6, _check_wallet_request, "text"),
    Rule("doubling_giveaway", "crypto-scam", 0.7, _check_doubling, "text"),
    Rule("recovery_scam", "recovery-scam", 0.6, _check_recovery, "text"),
    Rule("fake_support", "fake-support", 0.45, _check_fake_support, "text"),
    Rule("lookalike_domain", "phishing", 0.7, _check_lookalike, "domains"),
    Rule("risky_link", "phishing", 0.2, _check_risky_link, "domains"),
    Rule("prize_claim", "prize-scam", 0.25, _check_prize, "text"),
    Rule("campaign", "spam-campaign", 0.35, _check_campaign),
    Rule("media_reuse", "spam-campaign", 0.3, _check_media_reuse),
    Rule("burst", "spam", 0.25, _check_burst),
)


def evaluate_rules(post: Post, signals: PostSignals, rules: tuple[Rule, ...] = RULES) -> list[RuleHit]:
    """Every rule that fires on the post, in rule order."""
    hits: list[RuleHit] = []
    text = post.text.lower()
    has_triggers = _TEXT_TRIGGERS.search(text) is not None
    for rule in rules:
        if (rule.needs == "text" and not has_triggers) or (rule.needs == "domains" and not post.domains):
            continue
        reason = rule.check(post, signals, text)
        if reason is not None:
            hits.append(RuleHit(rule.name, rule.label, reason, rule.weight))
    return hits
