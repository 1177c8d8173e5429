"""Signals, rules and the verdict: what the scorer adds around the models."""

from __future__ import annotations

from typing import Any

from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.scoring.rules import default_rule_set, evaluate_rules
from fraud_pipeline.scoring.signals import BehaviorTracker, PostSignals, campaign_fingerprint
from tests.scoring_fixtures import DownScorer, KeywordScorer, make_post

QUIET = PostSignals(
    account_posts_window=1,
    account_is_new=False,
    campaign_id=None,
    campaign_accounts=1,
    media_reuse_accounts=0,
)


def test_fingerprint_folds_urls_numbers_and_case() -> None:
    a = campaign_fingerprint(
        "Claim your 5000 $SOL airdrop now at https://sol-claim.xyz/a1 before it ends!", 24
    )
    b = campaign_fingerprint(
        "CLAIM your 7000 $sol AIRDROP now at https://sol-claim2.top/zz before it ends", 24
    )
    assert a is not None and a == b
    assert campaign_fingerprint("gm", 24) is None
    assert campaign_fingerprint("a completely different sentence about gardening today", 24) != a


def test_campaign_needs_distinct_accounts_within_the_window() -> None:
    tracker = BehaviorTracker()
    text = "Claim your free airdrop now, only a few minutes left, connect wallet at the link"
    link = {"links": ["https://claim.xyz/a"], "domains": ["claim.xyz"]}
    same_account = [tracker.observe(make_post(i, text, did="did:plc:same", **link)) for i in range(5)]
    assert all(s.campaign_id is None and s.campaign_accounts == 1 for s in same_account)
    assert same_account[-1].account_posts_window == 5
    many = [tracker.observe(make_post(100 + i, text, **link)) for i in range(3)]
    assert many[-1].campaign_accounts == 4
    # An hour later the window has moved on: a new poster starts a fresh count.
    late = tracker.observe(make_post(200, text, time_us=1_764_000_000_000_000 + 3_600_000_000, **link))
    assert late.campaign_accounts == 1 and late.campaign_id is None
    # Without a link, mention or media the same repetition joins no campaign group at all.
    plain = [tracker.observe(make_post(300 + i, text)) for i in range(5)]
    assert all(s.campaign_accounts == 0 and s.campaign_evidence == 0 for s in plain)


def test_media_reuse_counts_accounts_sharing_a_blob() -> None:
    tracker = BehaviorTracker()
    signals = [tracker.observe(make_post(i, "look at this", media_cids=["bafyimage"])) for i in range(4)]
    assert [s.media_reuse_accounts for s in signals] == [1, 2, 3, 4]


def test_rules_fire_with_reasons() -> None:
    drainer = make_post(
        1, "Airdrop live! Connect your wallet to claim 500 $SOL", domains=["phantom-claim.xyz"]
    )
    hits = {h.rule: h for h in evaluate_rules(drainer, QUIET)}
    assert {"crypto_giveaway", "wallet_request", "lookalike_domain", "risky_link"} <= hits.keys()
    assert "phantom" in hits["lookalike_domain"].reason
    benign = make_post(2, "Lovely walk by the river this morning, the ducks were out", domains=["bsky.app"])
    assert evaluate_rules(benign, QUIET) == []
    real_brand = make_post(3, "New blog post", domains=["metamask.io"])
    assert "lookalike_domain" not in {h.rule for h in evaluate_rules(real_brand, QUIET)}


def test_verdict_combines_models_and_rules_and_counts_seed_metrics() -> None:
    scorer = PostScorer(KeywordScorer(), KeywordScorer())
    posts = [
        make_post(1, "free money for everyone"),  # text fraud, no media
        make_post(
            2,
            "nice photo",
            media_paths=["https://cdn/x"],
            media_alts=["free crypto giveaway"],
            media_cids=["c1"],
            media_kinds=["image"],
        ),  # media fraud only
        make_post(3, "just a normal day"),
        make_post(4, "", operation="delete"),
    ]
    tagged, counts = scorer.score(posts)
    assert [t.uri for t in tagged] == [p.uri for p in posts]
    assert tagged[0].is_fraud and tagged[0].fraud_text_likelihood == 0.95
    assert tagged[0].fraud_media_likelihood is None and "fraud-text" in tagged[0].labels
    assert (
        tagged[1].is_fraud and tagged[1].fraud_media_likelihood == 0.95 and "fraud-media" in tagged[1].labels
    )
    assert not tagged[2].is_fraud and tagged[2].fraud_score is not None and tagged[2].fraud_score < 0.5
    assert tagged[3].operation == "delete" and tagged[3].fraud_score is None and not tagged[3].is_fraud
    assert (counts.processed, counts.text_only, counts.is_fraud) == (3, 2, 2)
    assert (counts.fraud_text, counts.fraud_media, counts.fraud_both, counts.deleted) == (1, 1, 0, 1)
    assert tagged[0].text_model_version == "keyword-test" and tagged[1].media_model_version == "keyword-test"


def test_a_down_model_still_tags_the_post_with_a_reason() -> None:
    scorer = PostScorer(DownScorer(), None)
    tagged, counts = scorer.score([make_post(1, "Send your seed phrase to support to recover your wallet")])
    record = tagged[0]
    assert record.fraud_text_likelihood is None
    assert any("text score unavailable: connection refused" in r for r in record.reasons)
    assert counts.text_unavailable == 1
    assert record.is_fraud  # the rules alone still catch a seed-phrase request


def test_the_trigger_gate_never_changes_what_the_rules_find() -> None:
    """Gating text patterns on trigger words is an optimisation only: same hits on real texts."""
    import json
    from pathlib import Path

    rules = default_rule_set()
    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"] for line in labeled.read_text().splitlines()]
    fired = 0
    for index, text in enumerate(texts):
        post = make_post(index, text, domains=["phantom-claim.xyz"] if index % 7 == 0 else [])
        gated_hits = rules.evaluate(rules.context(post, QUIET))
        ungated = rules.context(post, QUIET)
        ungated._triggers = True  # as if every text had a trigger word: every pattern runs
        assert gated_hits == rules.evaluate(ungated), text
        fired += bool(gated_hits)
    assert fired > 500  # the rules do fire on this data


def test_weak_evidence_alone_is_not_a_verdict_but_strong_evidence_is() -> None:
    scorer = PostScorer(KeywordScorer(), None)
    promo, drainer = scorer.score(
        [
            make_post(1, "Join our NFT giveaway this weekend, tokens for the community"),
            make_post(
                2,
                "Wallet issue? Import your wallet with your seed phrase at the link",
                domains=["metamask-restore.xyz"],
            ),
        ]
    )[0]
    assert promo.rule_hits == ["crypto_giveaway"] and not promo.is_fraud
    combined = load_default_policy().spec.thresholds.combined
    assert promo.fraud_score is not None and 0 < promo.fraud_score < combined.review
    assert promo.action == "none" and drainer.action in ("review", "label")
    assert {"wallet_request", "lookalike_domain"} <= set(drainer.rule_hits) and drainer.is_fraud
    assert "fraud-text" not in drainer.labels and "wallet-drainer" in drainer.labels


def test_doubling_giveaway_is_caught_where_the_text_model_is_weak() -> None:
    scam = make_post(1, "Send 0.1 BTC to this address and get 0.2 BTC back instantly! Limited time")
    chat = make_post(2, "I'll send the doc and get 2 copies back to you tomorrow")
    assert "doubling_giveaway" in {h.rule for h in evaluate_rules(scam, QUIET)}
    assert "doubling_giveaway" not in {h.rule for h in evaluate_rules(chat, QUIET)}
    tagged, _ = PostScorer(KeywordScorer(), None).score([scam])
    assert tagged[0].is_fraud and "crypto-scam" in tagged[0].labels


def test_skipping_rules_by_precondition_never_changes_the_hits() -> None:
    """Rules that cannot fire on a post (no trigger word, no domain, no rewritten text) are
    skipped; the hits equal running every rule, on real texts and their obfuscated copies."""
    import json
    from pathlib import Path

    from fraud_pipeline.scoring.rewrites import REWRITES, rewrite

    rules = default_rule_set()
    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"] for line in labeled.read_text().splitlines()][:1500]
    skipped = fired = 0
    for index, text in enumerate(texts):
        for variant in (text, rewrite(text, REWRITES[index % len(REWRITES)], row=index)):
            domains = ["phantom-claim.xyz"] if index % 5 == 0 else ["bsky.app"] if index % 5 == 1 else []
            post = make_post(index, variant, domains=domains)
            ctx = rules.context(post, QUIET)
            hits = rules.evaluate(ctx)
            assert hits == rules.evaluate_every_rule(rules.context(post, QUIET)), variant
            skipped += bool(ctx.missing())
            fired += bool(hits)
    assert skipped > 1000 and fired > 300  # both paths are exercised


# Linked domains the policy's lists say nothing of, say something of, or both, in either order.
DOMAIN_MIXES: tuple[list[str], ...] = (
    [],
    ["x.com"],
    ["phantom-claim.xyz"],
    ["bsky.app", "bit.ly"],
    ["xn--metamsk-2ya.com"],
    ["news.example.org", "coinbase-help.top", "metamask.io"],
)


def test_every_declared_precondition_holds_on_real_texts() -> None:
    """A signal that `requires` a precondition is its type's zero on every post lacking it."""
    import json
    from pathlib import Path

    from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
    from fraud_pipeline.scoring.signal_registry import SIGNALS, ZERO_OF_TYPE

    rules = default_rule_set()
    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"] for line in labeled.read_text().splitlines()][:1500]
    checked = 0
    for index, text in enumerate(texts):
        for variant in (text, rewrite(text, REWRITES[index % len(REWRITES)], row=index)):
            domains = DOMAIN_MIXES[index % len(DOMAIN_MIXES)]
            ctx = rules.context(make_post(index, variant, domains=domains), QUIET)
            lacking = ctx.missing()
            for spec in SIGNALS.values():
                if spec.requires in lacking:
                    assert ctx.get(spec.name) == ZERO_OF_TYPE[spec.type], (spec.name, variant)
                    checked += 1
    assert checked > 10_000


def _rules_fired(text: str) -> set[str]:
    return {hit.rule for hit in evaluate_rules(make_post(1, text), QUIET)}


def test_support_desk_wording_with_a_number_is_fake_support() -> None:
    """Desk wording the first patterns missed ('call <brand> support', 'support line'), and
    ordinary talk of calling or supporting someone that must stay quiet."""
    for scam in (
        "Locked out of your exchange? Call Kraken support right away: +1 (888) 555-0142",
        "Official support line +44 20 7946 0958, open all night for wallet problems",
        "Refund pending. Customer service desk: 1-877-555-0199",
    ):
        assert "fake_support" in _rules_fired(scam), scam
    for chat in (
        "Call me when you land, I'll support you whatever happens. 555 0101 2020",
        "Called the crisis hotline 1-800-273-8255 last night, they were kind",
    ):
        assert "fake_support" not in _rules_fired(chat), chat


def test_multiplier_giveaway_wording_is_doubling() -> None:
    """The doubling promise said as a multiplier or as 'pay you back double', without a
    'send X' half; ordinary uses of the words stay quiet."""
    for scam in (
        "Every wallet that joins the pool gets 3x back within the hour",
        "We pay you back double whatever lands in the vault",
        "Double your ETH today, the foundation matches every deposit",
    ):
        assert "doubling_giveaway" in _rules_fired(scam), scam
    for chat in (
        "I'll give you back the book tomorrow, promise",
        "Won 2x back to back games tonight",
        "Double your chances: bring a friend to the raffle",
    ):
        assert "doubling_giveaway" not in _rules_fired(chat), chat


def test_recovery_agents_hacked_wallets_and_coin_multipliers_are_named() -> None:
    """Recovery-desk and giveaway wording met on drawn scam cards, in fresh phrasings."""
    assert "recovery_scam" in _rules_fired("Our licensed recovery specialists trace every stolen coin")
    assert "recovery_scam" in _rules_fired("Hacked wallets are our daily work, message us today")
    assert "doubling_giveaway" in _rules_fired("Founders week: join at sol-2x.example and watch it grow")
    assert "crypto_giveaway" in _rules_fired("BTC holders, claim rewards before the snapshot")
    assert "doubling_giveaway" in _rules_fired("Send 5 DOGE to the pool, get 10 DOGE back")
    for chat in ("The doubles tennis final was great", "Our team of recovery nurses says hi"):
        assert not _rules_fired(chat) & {"recovery_scam", "doubling_giveaway", "crypto_giveaway"}, chat


def test_the_trigger_prefilter_agrees_with_the_trigger_pattern() -> None:
    """Every alternative of TEXT_TRIGGERS opens with one of TRIGGER_PREFIXES (read from the
    compiled pattern's own parse), and the prefiltered search answers as the pattern does on
    the labelled data, its rewrites and edge cases."""
    import json
    import re._parser as sre_parse  # type: ignore[import-not-found]
    from pathlib import Path

    from fraud_pipeline.scoring import text_patterns as tp
    from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
    from fraud_pipeline.scoring.signal_registry import _has_triggers

    def openings(items: list, limit: int = 4) -> set[str]:  # type: ignore[type-arg]
        """The literal texts a parsed sequence can open with (charsets expanded)."""
        found = {""}
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                found = {f + chr(arg) for f in found}
            elif name == "IN" and all(str(o) in ("LITERAL", "RANGE") for o, _ in arg):
                chars = [chr(a) for o, a in arg if str(o) == "LITERAL"]
                chars += [chr(c) for o, a in arg if str(o) == "RANGE" for c in range(a[0], a[1] + 1)]
                found = {f + c for f in found for c in chars}
            elif name == "SUBPATTERN":
                found = {f + o for f in found for o in openings(list(arg[-1]), limit)}
            elif name == "BRANCH":
                found = {f + o for f in found for branch in arg[1] for o in openings(list(branch), limit)}
            else:
                break
        return found

    parsed = list(sre_parse.parse(tp.TEXT_TRIGGERS.pattern))
    assert str(parsed[0][0]) == "AT"  # \b, then the alternatives
    alternatives = openings(parsed[1:])
    assert len(alternatives) > 40
    for opening in alternatives:
        assert opening.startswith(tp.TRIGGER_PREFIXES), opening

    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"].lower() for line in labeled.read_text().splitlines()]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i).lower() for i, t in enumerate(texts[:2000])]
    texts += ["dm me", "dm", "dms open", "x5 back", "10x", "pay me back", "eth-double", "(free)", "wonder"]
    found = 0
    for text in texts:
        expected = tp.TEXT_TRIGGERS.search(text) is not None
        assert _has_triggers(text) == expected, text
        found += expected
    assert found > 1000


def test_the_generated_rules_equal_the_conditions_one_by_one_for_every_condition_shape() -> None:
    """The generated function (`RuleSet.source`) against `evaluate_every_rule` on a policy
    with each condition shape: `not`, comparisons with numbers, strings and booleans, `any`
    alone, `all` and `any` across preconditions, a shadow rule and a weight read from a
    signal; on texts, domains and behaviour that make each fire and not fire."""
    from fraud_pipeline.policy.loader import load_policy
    from fraud_pipeline.scoring.rules import RuleSet
    from tests.policy_fixtures import edited

    extra = """
  - name: quiet_link
    label: spam
    weight: 0.1
    when:
      all: [has_link, "not account_is_new", "account_posts_window < 3"]
    reason: a quiet account's link
  - name: brand_or_tld
    label: phishing
    weight: campaign_evidence
    mode: shadow
    when:
      any: ["lookalike_brand == 'metamask'", "high_abuse_tld_domain != ''", "leet_words >= 1"]
    reason: brand {lookalike_brand} or tld
  - name: giveaway_across
    label: crypto-scam
    weight: 0.2
    action: review
    when:
      all: [giveaway_language, "has_mention == false"]
      any: [scam_domain, mixed_script_words, "text_score > 0.5"]
    reason: giveaway with a domain, lookalike letters or a high text score
"""
    files = edited("rules.yaml", "rules:\n", "rules:\n" + extra.lstrip("\n"))
    rules = RuleSet(load_policy(files).spec)
    assert "def evaluate(ctx):" in rules.source and "quiet_link" not in rules.source  # names stay data
    texts = [
        "Claim your free airdrop now",
        "Clаim уоur frее аirdrop now",  # Cyrillic lookalikes
        "fr33 4irdr0p, claim your tokens",
        "lovely weather today",
        "Send 0.1 BTC and get 0.2 BTC back, dm me",
    ]
    domain_sets = [[], ["metamask-login.xyz"], ["phantom-claim.xyz"], ["bsky.app"]]
    behaviours = [
        QUIET,
        PostSignals(2, True, "c1", 5, 0, campaign_evidence=0.8),
        PostSignals(30, False, None, 0, 4, account_action="review", account_evidence=0.5),
    ]
    fired: set[str] = set()
    for i, text in enumerate(texts):
        for j, domains in enumerate(domain_sets):
            for k, behaviour in enumerate(behaviours):
                post = make_post(i * 100 + j * 10 + k, text, domains=domains)
                post.links = [f"https://{domain}/x" for domain in domains]
                if k == 1:
                    post.mentions = ["did:plc:someone"]
                for text_score in (None, 0.9):
                    hits = rules.evaluate(rules.context(post, behaviour, text_score))
                    assert hits == rules.evaluate_every_rule(rules.context(post, behaviour, text_score))
                    fired.update(h.rule for h in hits)
    assert {"quiet_link", "brand_or_tld", "giveaway_across"} <= fired


def test_domain_signals_name_the_first_listed_domain_in_link_order() -> None:
    """The lists' facts are worked out once per domain; each domain signal is still the first
    linked domain (in link order) the fact holds for, and `listed_domain` is the gate."""
    rules = default_rule_set()
    post = make_post(1, "hello", domains=["bsky.app", "bit.ly", "metamask-claim.xyz", "xn--pple-43d.com"])
    ctx = rules.context(post, QUIET)
    assert ctx.listed_domain and "listed_domain" not in ctx.missing()
    assert ctx.get("shortener_domain") == "bit.ly"
    assert ctx.get("high_abuse_tld_domain") == "metamask-claim.xyz"
    assert ctx.get("lookalike_domain") == "metamask-claim.xyz" and ctx.get("lookalike_brand") == "metamask"
    assert ctx.get("punycode_domain") == "xn--pple-43d.com"
    assert ctx.get("scam_domain") == ""
    unlisted = ["bsky.app", "metamask.io", "news.example.org"]
    plain = rules.context(make_post(2, "hello", domains=unlisted), QUIET)
    assert not plain.listed_domain and {"listed_domain", "trigger_words"} <= plain.missing()
    assert rules.evaluate(plain) == []


def test_from_post_puts_every_field_under_its_name() -> None:
    """`from_post` builds the record positionally (the scorer calls it once per post): every
    post field and every verdict argument must land under its own name."""
    import dataclasses

    from fraud_pipeline.records import Post, TaggedRecord, iso_from_us

    post = make_post(7, "Claim your free airdrop, connect wallet now", links=["https://a.xyz/x"])
    for f in dataclasses.fields(Post):
        if f.name in ("operation", "text", "uri", "did", "rkey"):
            continue
        if f.type in ("str | None",):
            setattr(post, f.name, f"{f.name}-value")
        elif f.type.startswith("list"):
            setattr(post, f.name, [f"{f.name}-item"])
    post.ingested_at_us = 17
    verdict = {
        "fraud_text_likelihood": 0.11,
        "fraud_media_likelihood": 0.22,
        "fraud_score": 0.33,
        "is_fraud": True,
        "labels": ["label-value"],
        "reasons": ["reason-value"],
        "rule_hits": ["rule-value"],
        "text_model_version": "text-version",
        "media_model_version": "media-version",
        "scored_at_us": 44,
        "action": "review",
        "policy_version": "policy-version",
        "campaign_id": "campaign-value",
    }
    record = TaggedRecord.from_post(post, **verdict)  # type: ignore[arg-type]
    for name, value in verdict.items():
        assert getattr(record, name) == value, name
    post_fields = {f.name for f in dataclasses.fields(Post)}
    for f in dataclasses.fields(TaggedRecord):
        if f.name in post_fields and f.name not in verdict:
            assert getattr(record, f.name) == getattr(post, f.name), f.name
    assert record.time_utc == iso_from_us(post.time_us)
    assert record.account_signals is None  # post records carry no account signals
    copies = ["s3://bucket/media/copy"]
    assert TaggedRecord.from_post(post, **verdict, media_paths=copies).media_paths == copies  # type: ignore[arg-type]


def test_the_scorer_puts_its_verdict_in_the_record() -> None:
    post = make_post(7, "Claim your free airdrop, connect wallet now", links=["https://a.xyz/x"])
    post.ingested_at_us = 17
    scorer = PostScorer(KeywordScorer(), KeywordScorer())
    record = scorer.score([post])[0][0]
    assert record.rule_hits and record.action != "none"  # a verdict with content in every part
    assert record.text == post.text and record.uri == post.uri and record.ingested_at_us == 17
    assert record.policy_version == scorer.policy.current().version
    assert record.text_model_version == KeywordScorer.version and record.media_model_version is None
    assert record.is_fraud is True and record.action in ("review", "label")
    assert set(record.rule_hits) <= {rule.name for rule in default_rule_set().rules}
    assert "crypto-scam" in record.labels and any("giveaway" in reason for reason in record.reasons)
    assert 0 < record.fraud_score <= 1 and record.fraud_text_likelihood is not None


def test_a_gated_pattern_is_skipped_only_where_it_cannot_match() -> None:
    """`TextReading.gated` skips a gated pattern when an ASCII text has none of its openings
    (`PATTERN_OPENINGS`): on the labelled data, its rewrites and phrasings met in tests, it
    answers exactly as searching the pattern after the trigger gate does, and it does skip."""
    import json
    from pathlib import Path

    from fraud_pipeline.scoring import text_patterns as tp
    from fraud_pipeline.scoring.canonical import _views_of
    from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
    from fraud_pipeline.scoring.signal_registry import TextReading, _has_triggers

    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"] for line in labeled.read_text().splitlines()]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    texts += [
        "Every wallet that joins the pool gets 3x back within the hour",
        "We pay you back double whatever lands in the vault",
        "Founders week: join at sol-2x.example and watch it grow",
        "giveaway back to you all",  # `give` inside `giveaway`
        "Call Kraken support right away: +1 (888) 555-0142",
        "You've won! Claim now",
        "drop ur sol wallet address below",
        "12-word phrase needed",
        "Get your money back from the hackers",
    ]
    for words in tp.PATTERN_OPENINGS.values():
        assert set(words) <= set(tp.TRIGGER_PREFIXES), words
    skipped = matched = 0
    for text in texts:
        reading = TextReading(_views_of(text))
        triggers = _has_triggers(reading.text) or (
            bool(reading.leet_text) and _has_triggers(reading.leet_text)
        )
        assert reading.triggers == triggers, text
        for pattern in tp.PATTERN_OPENINGS:
            expected = triggers and reading.search(pattern)
            assert TextReading(_views_of(text)).gated(pattern) == expected, (pattern.pattern[:40], text)
            matched += expected
            fresh = TextReading(_views_of(text))
            skipped += triggers and fresh.gated(pattern) is False and id(pattern) not in fresh._found
    assert matched > 300 and skipped > 5000, (matched, skipped)


def test_a_batch_is_scored_with_the_garbage_collector_paused_and_restored() -> None:
    """The collector is off while a batch is scored (models, tracker, rules, records) and on
    again after it, also when scoring raises."""
    import gc

    import pytest

    seen: list[bool] = []

    class Watching(KeywordScorer):
        def score(self, texts: list[str]) -> list[float]:
            seen.append(gc.isenabled())
            return super().score(texts)

    class Failing(KeywordScorer):
        def score(self, texts: list[str]) -> list[float]:
            raise RuntimeError("model crashed")

    assert gc.isenabled()
    PostScorer(Watching(), None).score([make_post(1, "free airdrop")])
    assert seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError):
        PostScorer(Failing(), None).score([make_post(2, "hello")])
    assert gc.isenabled()


def test_each_distinct_text_is_read_once_per_batch_by_the_trackers_and_the_rules(
    monkeypatch: Any,
) -> None:
    """`PostScorer` builds one `TextForms` per distinct text of a batch and hands it to the
    behaviour tracker, the account tracker and the rules: each text's views, folded form and
    rules' reading are worked out once, though the text is posted several times, with links
    and mentions (both trackers fold it) and the rules read it for every post; and the
    verdicts equal those of a scorer whose components each read the text on their own."""
    from fraud_pipeline.scoring import canonical, signal_registry

    views_calls: list[str] = []
    fold_calls: list[str] = []
    reading_calls: list[str] = []
    real_views, real_fold = canonical._views_of, canonical._fold_views
    real_ascii = canonical._read_ascii
    real_reading = signal_registry.TextReading.__init__

    def counting_views(text: str) -> Any:
        views_calls.append(text)
        return real_views(text)

    def counting_ascii(forms: list[Any]) -> None:  # a batch's ASCII texts, read together
        views_calls.extend(form.text for form in forms)
        monkeypatch.setattr(canonical, "_views_of", real_views)  # which it may call: counted once
        try:
            real_ascii(forms)
        finally:
            monkeypatch.setattr(canonical, "_views_of", counting_views)

    def counting_fold(views: Any) -> str:
        fold_calls.append(views.original)
        return real_fold(views)

    def counting_reading(self: Any, views: Any, *parts: Any) -> None:  # also the batch's (`read_batch`)
        reading_calls.append(views.original)
        real_reading(self, views, *parts)

    texts = ["Claim your free airdrop at drop.xyz now", "Fr33 аirdrop for the first 100 wallets", "hi"]
    posts = [
        make_post(
            i,
            texts[i % 3],
            links=["https://drop.xyz/a"],
            domains=["drop.xyz"],
            mentions=["did:plc:target0000000000000"],
        )
        for i in range(12)
    ]
    expected, _ = PostScorer(KeywordScorer(), None).score(posts)  # every component on its own
    canonical.text_forms.cache_clear()
    monkeypatch.setattr(canonical, "_views_of", counting_views)
    monkeypatch.setattr(canonical, "_read_ascii", counting_ascii)
    monkeypatch.setattr(canonical, "_fold_views", counting_fold)
    monkeypatch.setattr(signal_registry.TextReading, "__init__", counting_reading)
    tagged, _ = PostScorer(KeywordScorer(), None).score(posts)
    # (Building the account tracker reads its profile list terms too: not the posts' texts.)
    assert sorted(t for t in views_calls if t in texts) == sorted(texts)
    assert len(fold_calls) == 3  # both trackers fold the texts with a link or a mention
    assert sorted(reading_calls) == sorted(texts)
    assert [(t.uri, t.labels, t.action, t.fraud_score, t.reasons) for t in tagged] == [
        (t.uri, t.labels, t.action, t.fraud_score, t.reasons) for t in expected
    ]


def test_trigger_words_and_gates_are_found_in_text_outside_ascii_as_the_patterns_find_them() -> None:
    """The word openings (`_word_openings`) are read through ASCII with every other character
    as a separator, so texts with curly quotes, emoji, accents or other scripts get the fast
    paths too: on random texts mixing trigger phrases with such characters, whether a trigger
    word is there is what searching `TEXT_TRIGGERS` says, and a gated pattern that matches
    always has one of its openings among the text's."""
    import random

    from fraud_pipeline.scoring import text_patterns as tp
    from fraud_pipeline.scoring.signal_registry import _PATTERN_OPENINGS, _has_triggers, _word_openings

    rng = random.Random(11)
    pieces = [
        "free",
        "claim your",
        "airdrop",
        "send 0.5 eth get 1 back",
        "2x back",
        "dm us for",
        "support team",
        "seed phrase",
        "you won",
        "wallet",
        "connect wallet",
        "recover lost funds",
        "é",
        "ü",
        "’",
        "—",
        "😀",
        "ж",
        "日本",
        "\u00a0",
        "\u3000",
        "٣",
        "_",
        "-",
        " ",
        " ",
        ".",
        "2",
        "x",
        "give it back double",
        "a",
        "contact us",
        "help desk",
        "\ud800",
    ]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))) for _ in range(20_000)]
    found_any = 0
    for text in texts:
        expected = tp.TEXT_TRIGGERS.search(text) is not None
        assert _has_triggers(text) == expected, text
        found_any += expected
        openings = _word_openings(text)[0]
        for pattern in tp.PATTERN_OPENINGS:
            needed = _PATTERN_OPENINGS[id(pattern)]
            if pattern.search(text) is not None:
                assert not needed.isdisjoint(openings), (pattern.pattern[:30], text)
    assert found_any > 5000


def test_a_pattern_searched_without_its_opening_boundary_finds_what_the_search_finds() -> None:
    """`_found_in` searches a pattern without the `\\b` every match opens with and checks it where
    a start is found: on the labelled data, its rewrites and random strings built around the
    patterns' own words (mid-word, after digits, underscores and other scripts), it answers as
    `search` does, for every text pattern. A pattern whose `\\b` opens only its first
    alternative is searched whole."""
    import json
    import random
    import re
    from pathlib import Path

    from fraud_pipeline.scoring import text_patterns as tp
    from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
    from fraud_pipeline.scoring.signal_registry import _BOUNDARY_FREE, _found_in, _without_leading_boundary

    patterns = [p for p in vars(tp).values() if isinstance(p, re.Pattern)]
    assert {id(tp.GIVEAWAY), id(tp.SUPPORT), id(tp.PRIZE)} <= set(_BOUNDARY_FREE)
    assert _without_leading_boundary(re.compile(r"\bab|cd")) is None  # `\b` before `ab` only
    assert _without_leading_boundary(re.compile(r"\b(?:ab|cd)")) is not None
    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"].lower() for line in labeled.read_text().splitlines()]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i).lower() for i, t in enumerate(texts[:3000])]
    rng = random.Random(13)
    pieces = [
        "giveaway",
        "claim your",
        "claim now",
        "winner",
        "prize",
        "you won",
        "seed phrase",
        "12-word",
        "recover lost",
        "lost funds",
        "hacked wallet",
        "support team",
        "help desk",
        "dm us for",
        "call kraken support",
        "act now",
        "hurry",
        "last chance",
        "x",
        "_",
        "1",
        "é",
        "ж",
        " ",
        " ",
        "-",
        ".",
        "’",
    ]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 10))) for _ in range(20_000)]
    matched = 0
    for text in texts:
        for pattern in patterns:
            expected = pattern.search(text) is not None
            assert _found_in(pattern, text) == expected, (pattern.pattern[:40], text)
            matched += expected
    assert matched > 10_000


def test_a_batch_read_at_once_reads_each_text_as_it_reads_alone() -> None:
    """`read_batch` finds the word openings of a batch's texts in one pass over them joined;
    each text's reading (lower-case views, rewritten, openings, trigger words, and what the
    gated patterns find) equals the reading of the text alone (`TextReading`), on the labelled
    data, its rewrites (leet views of their own among them) and texts at the seams: empty,
    opening or ending with a trigger word, spaces, characters outside ASCII, `İ` (whose lower
    case is longer)."""
    import json
    from pathlib import Path

    from fraud_pipeline.scoring import text_patterns as tp
    from fraud_pipeline.scoring.canonical import TextForms, _views_of
    from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
    from fraud_pipeline.scoring.signal_registry import TextReading, read_batch

    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"] for line in labeled.read_text().splitlines()][:4000]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:2000])]
    texts += ["", " ", "free", "send ", " wallet", "İİ send 2x back", "claim your ünïcode free gift", "dm"]
    texts += ["hi", "free", "x" * 30 + "giveaway", "help\u00a0desk", "fr33 airdrop", "\ud800send"]
    patterns = (tp.GIVEAWAY, tp.SEND_WALLET, tp.DOUBLING, tp.SUPPORT, tp.PRIZE, tp.CRYPTO, tp.PHONE)
    forms = [TextForms(text) for text in dict.fromkeys(texts)]
    read_batch(forms)
    triggered = 0
    for form in forms:
        alone = TextReading(_views_of(form.text))
        batch = form.reading
        assert batch is not None
        got = (batch.text, batch.leet_text, batch.rewritten, batch.openings, batch.triggers)
        want = (alone.text, alone.leet_text, alone.rewritten, alone.openings, alone.triggers)
        assert got == want, form.text
        assert [batch.gated(p) for p in patterns] == [alone.gated(p) for p in patterns], form.text
        triggered += batch.triggers
    assert triggered > 500


def test_rules_run_without_a_context_find_what_every_rule_finds_and_build_one_only_when_needed(
    monkeypatch: Any,
) -> None:
    """`RuleSet.evaluate_post` (what `PostScorer` runs) reads the preconditions, the inlined
    signals and the batch's reading without a `SignalContext` and builds one only where a
    rule needs a computed signal or fires: its hits equal running every rule, on real texts,
    their rewrites, linked domains and behaviour that fires the behaviour rules; and a post
    no gate lets through builds no context."""
    import json
    from dataclasses import replace
    from pathlib import Path

    from fraud_pipeline.scoring.canonical import batch_forms
    from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
    from fraud_pipeline.scoring.signal_registry import SignalContext, read_batch

    rules = default_rule_set()
    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    texts = [json.loads(line)["text"] for line in labeled.read_text().splitlines()][:1500]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:600])]
    behaviours = [
        QUIET,
        replace(QUIET, campaign_id="c1", campaign_accounts=12),
        replace(QUIET, account_action="review", account_evidence=0.3),
        replace(QUIET, media_reuse_accounts=9),
        replace(QUIET, account_posts_window=40),
    ]
    forms = batch_forms(texts)
    read_batch(forms.values())
    built: list[int] = []

    class Counted(SignalContext):
        __slots__ = ()

        def __init__(self, *args: Any) -> None:
            built.append(1)
            super().__init__(*args)

    namespace = rules.evaluate_post.__globals__
    monkeypatch.setitem(namespace, "_Context", Counted)
    fired = quiet = 0
    for index, text in enumerate(texts):
        domains = ["phantom-claim.xyz"] if index % 5 == 0 else ["bsky.app"] if index % 5 == 1 else []
        links = ["https://x.example/a"] if index % 3 == 0 else []
        post = make_post(index, text, domains=domains, links=links)
        behaviour = behaviours[index % 10] if index % 10 < len(behaviours) else QUIET
        built.clear()
        hits = rules.evaluate_post(post, behaviour, rules.lists, 0.1, None, forms[text])
        expected = rules.evaluate_every_rule(SignalContext(post, behaviour, rules.lists, 0.1, None))
        assert hits == expected, text
        fired += bool(hits)
        if not built:
            quiet += 1
            assert not hits and not domains
    assert fired > 300 and quiet > 300
