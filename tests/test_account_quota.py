"""The daily quota on account labels: past it a label on a DID is recorded, not actioned.

Labels on accounts have their own circuit breaker (`accounts.quota_per_day`, counted in the
shared state store apart from the posts' quotas): the account record goes out as `review`
with its label kept, the labeler publishes nothing for it, a metric and an alert say so, and
an account already labelled is never un-labelled by the breaker.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from fraud_pipeline.accounts.events import AccountEvent, normalize_account_event
from fraud_pipeline.policy import PolicyError, load_policy
from fraud_pipeline.policy.loader import Policy
from fraud_pipeline.records import TaggedRecord
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.scoring.quotas import account_quota_key, quota_key, utc_day
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore
from tests.labeler_fixtures import drain, put_tagged, worker_for
from tests.policy_fixtures import edited, fixed_thresholds
from tests.scoring_fixtures import KeywordScorer

T0 = 1_764_000_000_000_000  # 2025-11-24 16:00 UTC
MINUTE = 60_000_000
DAY = 86_400_000_000
PITCH = "Account recovery expert, hacked? WhatsApp +1 (555) 201-3344"  # contact, phone, services


def scammer(n: int) -> str:
    return f"did:plc:scammer{n:018d}"


def profile(did: str, name: str, time_us: int, description: str = PITCH) -> AccountEvent:
    record = {"$type": "app.bsky.actor.profile", "displayName": name, "description": description}
    commit = {"rev": "r", "operation": "create", "collection": "app.bsky.actor.profile", "rkey": "self"}
    result = normalize_account_event(
        {"did": did, "time_us": time_us, "kind": "commit", "commit": {**commit, "record": record}}
    )
    assert result.event is not None, result
    return result.event


def quota_policy(per_day: int) -> Policy:
    return load_policy(
        edited("accounts.yaml", "quota_per_day: 1000", f"quota_per_day: {per_day}", fixed_thresholds())
    )


def scorer_on(state: StateStore, policy: Policy) -> PostScorer:
    return PostScorer(KeywordScorer(), policy=policy, behaviour_state=state, quota_state=state)


def by_did(records: list[TaggedRecord]) -> dict[str, TaggedRecord]:
    return {r.did: r for r in records if r.operation == "account"}


def test_past_the_quota_an_account_label_is_recorded_not_actioned_counted_across_runtimes(
    tmp_path: Path, local_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Two runtimes (two connections to one SQLite state store, as two shards) share the count:
    the third new account label of the day goes out as review with its label recorded and a
    reason, is counted per label and alerted once; the labeler labels only the first two DIDs."""
    policy = quota_policy(2)
    first_state, second_state = (
        SqliteStateStore(tmp_path / "state.db"),
        SqliteStateStore(tmp_path / "state.db"),
    )
    first, second = scorer_on(first_state, policy), scorer_on(second_state, policy)
    with caplog.at_level(logging.ERROR, logger="fraud_pipeline.scoring.quotas"):
        out_a, counts_a = first.score(
            [], [profile(scammer(1), "Rec", T0), profile(scammer(2), "Rec", T0 + 1)]
        )
        out_b, counts_b = second.score(
            [], [profile(scammer(3), "Rec", T0 + 2), profile(scammer(4), "Rec", T0 + 3)]
        )
    a, b = by_did(out_a), by_did(out_b)
    assert [a[scammer(1)].action, a[scammer(2)].action] == ["label", "label"]
    for did in (scammer(3), scammer(4)):
        held = b[did]
        assert held.action == "review" and held.is_fraud
        assert held.labels == ["scam-account"]  # recorded
        assert "daily account label quota reached for scam-account" in held.reasons[-1]
    assert counts_a.account_quota_exceeded == {} and counts_b.account_quota_exceeded == {"scam-account": 2}
    assert counts_b.quota_exceeded == {}  # the posts' breaker is not involved
    day = utc_day(T0)
    assert first_state.get_counter(account_quota_key("scam-account", day)) == 4
    assert first_state.get_counter(quota_key("scam-account", day)) == 0  # posts' counter apart
    assert sum("ALERT account label quota" in r.getMessage() for r in caplog.records) == 1

    put_tagged(local_settings, [r.to_json() for r in out_a + out_b])
    worker = worker_for(local_settings)
    drain(worker)
    published = [stored.label for stored in worker.store.after(0, 100)]
    assert {(label.uri, label.val, label.neg) for label in published} == {
        (scammer(1), "scam", False),
        (scammer(2), "scam", False),
    }
    worker.store.close()
    first_state.close()
    second_state.close()


def test_a_labelled_account_keeps_its_label_and_a_held_one_draws_again_the_next_day(
    local_settings: Settings,
) -> None:
    """The breaker stops new labels and never undoes old ones: a labelled account whose signals
    change stays labelled without drawing on the quota. An account held back is remembered:
    its next change draws on the quota of its day (the next day: granted), so a held label is
    never published behind the breaker's back."""
    state = MemoryStateStore()
    scorer = scorer_on(state, quota_policy(1))
    day1 = by_did(scorer.score([], [profile(scammer(1), "Rec", T0), profile(scammer(2), "Rec", T0 + 1)])[0])
    assert (day1[scammer(1)].action, day1[scammer(2)].action) == ("label", "review")

    # Both borrow a well-known name: new signals, still `label` on the score.
    later = scorer.score([], [profile(scammer(1), "Bluesky Support", T0 + MINUTE)])[0]
    (kept,) = later
    assert kept.action == "label" and "impersonation" in kept.rule_hits
    assert orjson.loads(kept.account_signals or "{}")["previous_action"] == "label"
    assert state.get_counter(account_quota_key("scam-account", utc_day(T0))) == 2  # not drawn again
    (still_held,) = scorer.score([], [profile(scammer(2), "Bluesky Support", T0 + 2 * MINUTE)])[0]
    assert still_held.action == "review"  # the stored verdict says label, but it was held
    assert state.get_counter(account_quota_key("scam-account", utc_day(T0))) == 3

    (next_day,) = scorer.score([], [profile(scammer(2), "Bluesky Support", T0 + DAY, "DM me on telegram")])[0]
    assert next_day.action == "label" and utc_day(T0 + DAY) != utc_day(T0)
    assert state.get_counter(account_quota_key("scam-account", utc_day(T0 + DAY))) == 1

    records = [*day1.values(), kept, still_held, next_day]
    put_tagged(local_settings, [r.to_json() for r in records])
    worker = worker_for(local_settings)
    drain(worker)
    published = [(s.label.uri, s.label.neg) for s in worker.store.after(0, 100)]
    assert published.count((scammer(1), False)) == 1 and (scammer(1), True) not in published
    assert published.count((scammer(2), False)) == 1 and (scammer(2), True) not in published
    worker.store.close()


def test_a_retried_batch_draws_nothing_twice_and_never_takes_back_a_granted_label(
    local_settings: Settings,
) -> None:
    """At-least-once delivery: the same batch scored again puts the same account record again.
    At the quota's edge that retry must not draw a second time and demote (so negate) the
    label the first attempt was granted; the quota counts accounts labelled per day."""
    state = MemoryStateStore()
    scorer = scorer_on(state, quota_policy(1))
    batch = [profile(scammer(1), "Rec", T0)]
    (first,) = scorer.score([], batch)[0]
    (again,), counts = scorer.score([], batch)
    assert first.action == again.action == "label" and counts.account_quota_exceeded == {}
    assert state.get_counter(account_quota_key("scam-account", utc_day(T0))) == 1
    put_tagged(local_settings, [first.to_json(), again.to_json()])
    worker = worker_for(local_settings)
    drain(worker)
    assert [(s.label.uri, s.label.neg) for s in worker.store.after(0, 100)] == [(scammer(1), False)]
    worker.store.close()


def test_the_runtime_publishes_account_quota_trips_beside_the_posts_alarm_metric(
    local_settings: Settings,
) -> None:
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.scoring.handler import InputRecord, ScoringRuntime
    from fraud_pipeline.streams import open_stream
    from tests.scoring_fixtures import RecordingMetrics

    stream = open_stream(local_settings)
    stream.create_stream(local_settings.tagged_stream, 1)
    metrics = RecordingMetrics()
    runtime = ScoringRuntime(
        local_settings,
        stream,
        ObjectStore.from_settings(local_settings),
        metrics,
        scorer_on(MemoryStateStore(), quota_policy(0)),
    )
    events = [profile(scammer(1), "Rec", T0)]
    assert runtime.score_batch([InputRecord(str(i), e.to_json()) for i, e in enumerate(events)]) == []

    def datum(name: str, **dimensions: str) -> float:
        return sum(d.value for _, d in metrics.data if d.name == name and d.dimensions == dimensions)

    assert datum("Account-Label-Quota-Exceeded") == 1
    assert datum("Account-Label-Quota-Exceeded", Label="scam-account") == 1
    assert datum("Label-Quota-Exceeded") == 1  # the alarm's metric counts account trips too
    assert datum("Label-Quota-Exceeded", Label="scam-account") == 0  # per label: posts only


def test_the_quota_view_shows_the_account_label_counter_apart_from_the_posts() -> None:
    from fraud_pipeline.dashboard.analyst import quota_status

    policy = quota_policy(10)
    state = MemoryStateStore()
    state.increment(account_quota_key("scam-account", "2025-11-24"), 12)
    state.increment(quota_key("scam-account", "2025-11-24"), 3)
    rows = {(r["label"], r["subject"]): r for r in quota_status(policy, state, day="2025-11-24")}
    account = rows[("scam-account", "account")]
    assert (account["used"], account["limit"], account["remaining"], account["tripped"]) == (12, 10, 0, True)
    post = rows[("scam-account", "post")]
    assert (post["used"], post["limit"], post["tripped"]) == (3, 50_000, False)
    assert quota_status(policy, state, day="2025-11-24")[0]["subject"] == "account"  # most used first


def test_the_account_quota_is_validated_like_the_rest_of_the_policy() -> None:
    with pytest.raises(PolicyError) as error:
        load_policy(edited("accounts.yaml", "quota_per_day: 1000", "quota_per_day: -5", fixed_thresholds()))
    assert "accounts.yaml" in str(error.value) and "quota_per_day" in str(error.value)
    with pytest.raises(PolicyError, match="quota_per_day"):
        load_policy(edited("accounts.yaml", "  quota_per_day: 1000\n", "", fixed_thresholds()))
