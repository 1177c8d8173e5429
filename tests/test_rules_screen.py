"""`RuleScreen` (session 11): compiled code tells, before calling the generated rules function,
whether any rule may fire on a post. A post it turns away must get no hit from the function,
under the project's policy and under policies whose rules read other signals; and a rule it
cannot screen leaves it open."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fraud_pipeline.policy.source import load_policy
from fraud_pipeline.scoring import canonical
from fraud_pipeline.scoring.rules import RuleScreen, RuleSet, _field_reading, default_rule_set
from fraud_pipeline.scoring.signal_registry import SIGNALS, read_batch
from fraud_pipeline.scoring.signals import PostSignals
from tests.policy_fixtures import edited
from tests.scoring_fixtures import make_post

# Rules that read the screen's every kind of field condition and test, one at a time in front
# of the project's rules; and a rule it cannot screen (a model score).
_EXTRA = {
    "truthy": """["account_is_new", "campaign_accounts > 2", "not has_media"]""",
    "equals": """["account_action == 'review'", "near_duplicate_accounts <= 1"]""",
    "not": """["not campaign_shared_domain", "campaign_evidence < 0.5", "campaign_span_s != 0.0"]""",
    "compare": """["campaign_span_s != 0.0", "text_score > 0.5"]""",
}
_RULE = """
  - name: extra
    label: spam
    weight: 0.1
    when:
      all: {conditions}
    reason: extra
"""
_UNSCREENABLE = """
  - name: model_alone
    label: spam
    weight: 0.1
    when:
      all: ["text_score >= 0.5"]
    reason: model
"""


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["free", "airdrop", "claim", "your", "wallet", "send", "2x", "back", "hello", "the", "frее",
             "f r e e", "fr33", "support", "dm", "prize", "won", "you", "ＦＲＥＥ"]  # fmt: skip
    words += ["cat", "today", "lovely", "weather", "and", "a", "walk", "in", "park"] * 3
    words += ["hеllo", "wоrld", "ｃａｔｓ", "mеtamask"]  # rewritten without a trigger word
    return [" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(count)]


def _behaviours(rng: random.Random) -> PostSignals:
    if rng.random() < 0.5:  # most posts: a quiet account, no group
        return PostSignals(rng.choice([1, 2]), False, None, 0, 0, campaign_shared_domain=rng.random() < 0.5)
    return PostSignals(
        rng.choice([0, 1, 5, 19, 20, 40]),
        rng.random() < 0.3,
        rng.choice([None, None, None, "c1"]),
        rng.choice([0, 1, 2, 3, 9]),
        rng.choice([0, 0, 1, 2, 3, 7]),
        campaign_span_s=rng.choice([0.0, 0.0, 12.5]),
        near_duplicate_accounts=rng.choice([0, 1, 2]),
        campaign_evidence=rng.choice([0.0, 0.3, 0.9]),
        account_action=rng.choice(["none", "none", "none", "review", "label"]),
        account_evidence=rng.choice([0.0, 0.5]),
    )


def _turned_away_get_no_hits(rules: RuleSet, seed: int) -> tuple[int, int]:
    """(posts turned away, posts let through) over random texts, shapes and behaviours; every
    post turned away gets no hit from the function."""
    screen = RuleScreen(rules.rules, active=True)
    assert not screen.open
    rng = random.Random(seed)
    texts = _texts(600, seed)
    away = through = 0
    canonical.text_forms.cache_clear()
    try:
        forms = canonical.batch_forms(texts)
        read_batch(forms.values())
        for i, text in enumerate(texts):
            extra: dict[str, Any] = {}
            if rng.random() < 0.3:  # a linked domain (the flag read is the domains, not the links)
                extra["domains"] = ["metamask-login.xyz"]
                if rng.random() < 0.5:
                    extra["links"] = ["https://metamask-login.xyz/x"]
            if rng.random() < 0.2:
                extra["mentions"] = ["did:plc:someone"]
            if rng.random() < 0.2:
                extra["media_paths"] = ["https://cdn/x.jpg"]
            post = make_post(i, text, **extra)
            for _ in range(6):
                behaviour = _behaviours(rng)
                text_score = rng.choice([None, 0.1, 0.7])
                hits = rules.evaluate_post(post, behaviour, rules.lists, text_score, None, forms[text])
                if screen.may_fire(post, behaviour, forms[text]):
                    through += 1
                else:
                    assert hits == [], (text, behaviour, [h.rule for h in hits])
                    away += 1
    finally:
        canonical.text_forms.cache_clear()
    return away, through


def test_the_projects_rules_turn_away_posts_none_fires_on() -> None:
    away, through = _turned_away_get_no_hits(default_rule_set(), seed=1)
    assert away > 300 and through > 300, (away, through)


@pytest.mark.parametrize("kind", sorted(_EXTRA))
def test_every_kind_of_field_condition_is_screened_as_the_function_tests_it(kind: str) -> None:
    rule = _RULE.format(conditions=_EXTRA[kind])
    rules = RuleSet(load_policy(edited("rules.yaml", "rules:\n", "rules:\n" + rule.lstrip("\n"))).spec)
    assert not RuleScreen(rules.rules, active=True).open
    away, through = _turned_away_get_no_hits(rules, seed=2)
    assert away > 100 and through > 300, (away, through)


def test_a_rule_it_cannot_screen_leaves_it_open() -> None:
    files = edited("rules.yaml", "rules:\n", "rules:\n" + _UNSCREENABLE.lstrip("\n"))
    rules = RuleSet(load_policy(files).spec)
    assert RuleScreen(rules.rules, active=True).open
    post = make_post(1, "hello")
    assert RuleScreen(rules.rules, active=True).may_fire(post, _behaviours(random.Random(3)), None)


def test_the_pure_build_leaves_it_open_and_the_compiled_one_does_not() -> None:
    from fraud_pipeline.scoring import rules as module

    assert default_rule_set().screen.open is (not module._compiled())
    assert not RuleScreen(default_rule_set().rules, active=True).open


@pytest.mark.parametrize(
    ("expression", "reading"),
    [
        ("behaviour.account_posts_window", ("account_posts_window", 0, None)),
        ("behaviour.campaign_id is not None", ("campaign_id", 1, None)),
        ("behaviour.campaign_id is None", ("campaign_id", 2, None)),
        ("behaviour.account_action == 'label'", ("account_action", 3, "label")),
        ("behaviour.account_action != 'none'", ("account_action", 4, "none")),
        ("bool(ctx.post.links)", None),
        ("ctx.text_score or 0.0", None),
        ("behaviour.a < behaviour.b", None),
        ("behaviour.a in ('x',)", None),
        ("not behaviour.a", None),
        ("behaviour.", None),
    ],
)
def test_field_readings(expression: str, reading: tuple[str, int, Any] | None) -> None:
    assert _field_reading(expression) == reading


def test_the_registrys_behaviour_signals_are_screenable() -> None:
    """Every signal whose expression reads `behaviour` is one the screen reads as a field (a new
    form would leave a rule on it unscreened: correct, but every post would go to the function)."""
    for spec in SIGNALS.values():
        if spec.inline is not None and "behaviour." in spec.inline:
            assert _field_reading(spec.inline) is not None, spec.name
