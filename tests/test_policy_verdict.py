"""The verdict the policy drives: tiers of action, shadow rules, daily quotas, hot reload."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fraud_pipeline.policy import PolicyError, load_policy
from fraud_pipeline.policy.runtime import PolicyHolder
from fraud_pipeline.policy.source import FolderPolicySource
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.scoring.quotas import quota_key
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.memory import MemoryStateStore
from tests.policy_fixtures import edited, fixed_thresholds, write_policy
from tests.scoring_fixtures import KeywordScorer, make_post

DRAINER = "Wallet issue? Import your wallet with your seed phrase at the link"
FIXED = fixed_thresholds()  # text (review 0.49, label 0.95), combined (0.6, 0.97)


def test_tiers_review_for_the_wide_band_label_for_the_precise_one() -> None:
    scorer = PostScorer(KeywordScorer(), None, policy=load_policy(FIXED))  # 0.95 when it says 'free'
    free, drainer, calm = scorer.score(
        [make_post(1, "free stuff"), make_post(2, DRAINER), make_post(3, "a calm day by the sea")]
    )[0]
    assert (free.action, free.is_fraud) == ("label", True)  # 0.95 >= the text model's label point
    assert (drainer.action, drainer.is_fraud) == ("review", True)  # rules only: the wider band
    assert (calm.action, calm.is_fraud) == ("none", False)
    version = load_policy(FIXED).version
    assert {free.policy_version, drainer.policy_version, calm.policy_version} == {version}

    # Move the label point above 0.95: the same post drops to review.
    stricter = load_policy(edited("verdict.yaml", "label: 0.95", "label: 0.99", FIXED))
    assert (
        PostScorer(KeywordScorer(), None, policy=stricter).score([make_post(1, "free stuff")])[0][0].action
        == "review"
    )


def test_a_shadow_rule_is_recorded_and_counted_but_changes_nothing() -> None:
    post = make_post(1, DRAINER)
    live = PostScorer(KeywordScorer(), None, policy=load_policy(FIXED)).score([post])[0][0]
    shadow_policy = load_policy(
        edited(
            "rules.yaml",
            "  - name: wallet_request\n    label: wallet-drainer\n",
            "  - name: wallet_request\n    label: wallet-drainer\n    mode: shadow\n",
            FIXED,
        )
    )
    tagged, counts = PostScorer(KeywordScorer(), None, policy=shadow_policy).score([post])
    shadowed = tagged[0]
    assert "wallet_request" in live.rule_hits and "wallet-drainer" in live.labels
    assert "shadow:wallet_request" in shadowed.rule_hits and "wallet_request" not in shadowed.rule_hits
    assert "wallet-drainer" not in shadowed.labels
    assert shadowed.fraud_score is not None and live.fraud_score is not None
    assert shadowed.fraud_score < live.fraud_score
    assert counts.rule_hits["shadow:wallet_request"] == 1 and counts.rule_hits["wallet_request"] == 0
    assert any(r.startswith("shadow rule wallet_request would add wallet-drainer") for r in shadowed.reasons)


def test_past_its_daily_quota_a_label_is_recorded_but_sent_to_review(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = load_policy(edited("verdict.yaml", "per_label: {}", "per_label: {fraud-text: 3}", FIXED))
    state = MemoryStateStore()
    first = PostScorer(KeywordScorer(), None, policy=policy, quota_state=state)
    second = PostScorer(KeywordScorer(), None, policy=policy, quota_state=state)  # another shard, same store
    with caplog.at_level(logging.ERROR):
        a, counts_a = first.score([make_post(i, "free stuff") for i in range(2)])
        b, counts_b = second.score([make_post(10 + i, "free stuff") for i in range(3)])
    actions = [t.action for t in a + b]
    assert actions == ["label", "label", "label", "review", "review"]
    assert all("fraud-text" in t.labels and t.is_fraud for t in a + b)
    assert "daily quota reached for fraud-text" in b[-1].reasons[-1]
    assert counts_b.quota_exceeded["fraud-text"] == 2 and counts_a.quota_exceeded["fraud-text"] == 0
    assert (counts_b.action_label, counts_b.action_review) == (1, 2)
    assert state.get_counter(quota_key("fraud-text", "2025-11-24")) == 5
    assert sum("ALERT label quota" in r.getMessage() for r in caplog.records) == 1


def test_verdict_updates_of_a_campaign_count_against_the_daily_label_quota(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A campaign's retroactive re-labelling is automatic action too: past the quota it is review."""
    import random

    from fraud_pipeline.records import VERDICT_OPERATION

    campaign_labels = edited(
        "rules.yaml",
        "    action: review\n    when:\n      all: [in_campaign]",
        "    action: label\n    when:\n      all: [in_campaign]",
        FIXED,
    )
    quota = edited("verdict.yaml", "per_label: {}", "per_label: {spam-campaign: 4}", campaign_labels)
    policy = load_policy(quota)
    state = MemoryStateStore()
    scorer = PostScorer(KeywordScorer(), None, policy=policy, quota_state=state)
    rng = random.Random(2)
    text = "Hey everyone, I found a site with great tips for everyday life, have a look"
    posts = sorted(
        (
            make_post(
                i,
                f"{text} https://tips-site.xyz/a{i}",
                time_us=1_764_000_000_000_000 + rng.randrange(240_000_000),
                links=[f"https://tips-site.xyz/a{i}"],
                domains=["tips-site.xyz"],
            )
            for i in range(40)
        ),
        key=lambda p: p.time_us,
    )
    records, quota_exceeded = [], 0
    with caplog.at_level(logging.ERROR):
        for start in range(0, 40, 10):
            tagged, counts = scorer.score(posts[start : start + 10])
            records.extend(tagged)
            quota_exceeded += counts.quota_exceeded["spam-campaign"]
    updates = [t for t in records if t.operation == VERDICT_OPERATION]
    campaign = [t for t in records if "spam-campaign" in t.labels]
    assert len(updates) >= 4  # the crossing re-labelled the campaign's first posts
    assert sum(t.action == "label" for t in campaign) == 4  # the quota, updates included
    over = [t for t in updates if t.action == "review"]
    assert over and all("daily quota reached for spam-campaign" in t.reasons[-1] for t in over)
    assert all(t.is_fraud for t in updates)
    assert quota_exceeded == sum(t.action == "review" for t in campaign)
    day = records[0].time_utc[:10]
    assert state.get_counter(quota_key("spam-campaign", day)) == len(campaign)
    assert sum("ALERT label quota" in r.getMessage() for r in caplog.records) == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_hot_reload_picks_up_a_new_version_and_keeps_the_old_one_when_invalid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_policy(tmp_path / "policy", FIXED)
    clock = _Clock()
    holder = PolicyHolder(FolderPolicySource(folder), check_every_s=5.0, clock=clock)
    scorer = PostScorer(KeywordScorer(), None, policy=holder)
    original = holder.version
    assert scorer.score([make_post(1, "free stuff")])[0][0].action == "label"

    write_policy(folder, edited("verdict.yaml", "label: 0.95", "label: 0.99", FIXED))
    assert scorer.score([make_post(2, "free stuff")])[0][0].policy_version == original  # not yet checked
    clock.now = 5.0
    reloaded = scorer.score([make_post(3, "free stuff")])[0][0]
    assert reloaded.policy_version != original and reloaded.action == "review"
    good = holder.version

    bad = edited("rules.yaml", "all: [recovery_language]", "all: [no_such_signal]", FIXED)
    write_policy(folder, bad)
    clock.now = 10.0
    with caplog.at_level(logging.ERROR):
        kept = scorer.score([make_post(4, "free stuff")])[0][0]
    assert kept.policy_version == good and holder.rejections == 1
    assert "no_such_signal" in (holder.last_error or "") and "refused" in caplog.text
    with pytest.raises(PolicyError):
        load_policy(bad)
    clock.now = 15.0
    holder.current()
    assert holder.rejections == 1  # the same bad version is not re-validated (or re-counted)


def test_the_runtime_publishes_rule_hits_quota_trips_and_refused_versions_that_the_alarms_watch(
    local_settings: Settings,
) -> None:
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.scoring.handler import InputRecord, ScoringRuntime
    from fraud_pipeline.streams import open_stream
    from tests.infra_fixtures import MODULES, load_hcl
    from tests.scoring_fixtures import RecordingMetrics

    files = edited("verdict.yaml", "per_label: {}", "per_label: {fraud-text: 1}", FIXED)
    files = edited(
        "rules.yaml",
        "  - name: wallet_request\n    label: wallet-drainer\n",
        "  - name: wallet_request\n    label: wallet-drainer\n    mode: shadow\n",
        files,
    )
    stream = open_stream(local_settings)
    stream.create_stream(local_settings.tagged_stream, 1)
    metrics = RecordingMetrics()
    scorer = PostScorer(KeywordScorer(), None, policy=load_policy(files))
    runtime = ScoringRuntime(
        local_settings, stream, ObjectStore.from_settings(local_settings), metrics, scorer
    )
    posts = [make_post(1, "free stuff"), make_post(2, "free stuff"), make_post(3, DRAINER)]
    assert runtime.score_batch([InputRecord(str(i), p.to_json()) for i, p in enumerate(posts)]) == []

    def datum(name: str, **dimensions: str) -> float:
        return sum(d.value for _, d in metrics.data if d.name == name and d.dimensions == dimensions)

    assert datum("Rule-Hits", Rule="wallet_request", Mode="shadow") == 1
    assert datum("Label-Quota-Exceeded") == 1 and datum("Label-Quota-Exceeded", Label="fraud-text") == 1
    assert (datum("Post-Action-Label"), datum("Post-Action-Review")) == (1, 1)
    assert datum("Policy-Reload-Rejected") == 0
    alarms = {
        name: body
        for block in load_hcl(MODULES / "cloudwatch" / "main.tf")["resource"]
        for name, body in block.get("aws_cloudwatch_metric_alarm", {}).items()
    }
    assert alarms["label_quota_exceeded"]["metric_name"] == "Label-Quota-Exceeded"
    assert alarms["policy_reload_rejected"]["metric_name"] == "Policy-Reload-Rejected"


def test_hot_reload_retunes_the_behaviour_tracker_between_batches(tmp_path: Path) -> None:
    """The tracker's windows and bars follow a reload at a batch boundary: counts already in
    the store are read with the new numbers, and every post is tagged exactly once."""
    folder = write_policy(tmp_path / "policy", FIXED)
    clock = _Clock()
    holder = PolicyHolder(FolderPolicySource(folder), check_every_s=5.0, clock=clock)
    state = MemoryStateStore()
    scorer = PostScorer(KeywordScorer(), None, policy=holder, behaviour_state=state)
    did = "did:plc:reloadedaccount0000000000"
    t0 = 1_764_000_000_000_000
    minute = 60_000_000
    sent = [make_post(1, "a calm day", did=did, time_us=t0)]
    first = scorer.score(sent)[0]
    assert first[0].policy_version == holder.version

    # 900 s of "new account" by default: two minutes later the account is still new.
    sent.append(make_post(2, "a calm day again", did=did, time_us=t0 + 2 * minute))
    assert scorer.tracker.observe(sent[-1]).account_is_new  # (observing twice counts nothing twice)
    second = scorer.score([sent[-1]])[0]

    write_policy(folder, edited("behaviour.yaml", "new_account_s: 900", "new_account_s: 60", FIXED))
    clock.now = 5.0
    sent.append(make_post(3, "a calm day once more", did=did, time_us=t0 + 3 * minute))
    third = scorer.score([sent[-1]])[0]
    assert third[0].policy_version != first[0].policy_version
    assert scorer.tracker.params.new_account_s == 60
    # The account's first sighting (three minutes ago, in the store) is read with the new bar.
    assert not scorer.tracker.observe(sent[-1]).account_is_new

    # A policy that fails validation leaves the tracker as it was.
    write_policy(folder, edited("behaviour.yaml", "new_account_s: 900", "new_account_s: -5", FIXED))
    clock.now = 10.0
    sent.append(make_post(4, "calm", did=did, time_us=t0 + 4 * minute))
    fourth = scorer.score([sent[-1]])[0]
    assert holder.rejections == 1 and scorer.tracker.params.new_account_s == 60
    assert fourth[0].policy_version == third[0].policy_version

    tagged = first + second + third + fourth
    assert [t.uri for t in tagged] == [p.uri for p in sent]  # none lost, none twice
