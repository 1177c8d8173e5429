"""The account tracker's quiet shortcut held to judging every account.

`AccountTracker._judge_changed` leaves out the accounts whose verdict cannot have moved
(`_quiet`). Under a policy whose `new_account` weight alone reaches the review tier, an account
with no stored verdict is never quiet: every account seen must be judged (and its verdict stored)
the first time. These tests run the tracker beside a twin that judges every account of every
batch (its `_quiet` always False), on the same batches, and hold the shortcut to it: every
verdict the shortcut returns is the twin's, byte for byte, and every account it leaves out the
twin judged `none` and unchanged (no account record, no evidence for the account's posts)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fraud_pipeline.accounts.events import AccountEvent, normalize_account_event
from fraud_pipeline.accounts.synth import synth_accounts
from fraud_pipeline.accounts.tracker import AccountTracker, AccountVerdict
from fraud_pipeline.ingest.normalize import decode_event, normalize
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.policy.schema import PolicySpec
from fraud_pipeline.records import Post
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore

START = 1_764_000_000_000_000
DAY = 86_400_000_000
MINUTE = 60_000_000

Batch = tuple[list[Post], list[AccountEvent]]


class _JudgeEvery(AccountTracker):
    """The twin: no account is ever quiet, so every account of a batch is judged."""

    def _quiet(self, t: int, before: AccountVerdict | None, reaching: tuple[bool, bool, bool] | None) -> bool:
        return False


def _new_account_reaches_review(spec: PolicySpec) -> PolicySpec:
    assert spec.accounts is not None
    accounts = spec.accounts
    weights = accounts.weights.model_copy(update={"new_account": accounts.tiers.review})
    return spec.model_copy(update={"accounts": accounts.model_copy(update={"weights": weights})})


def _post(
    did: str, t: int, n: int, text: str, parent: str | None = None, mentions: list[str] | None = None
) -> Post:
    return Post(
        uri=f"at://{did}/app.bsky.feed.post/q{n}",
        did=did,
        rkey=f"q{n}",
        operation="create",
        time_us=t,
        text=text,
        reply_root=parent,
        reply_parent=parent,
        mentions=mentions or [],
    )


def _batches(seed: int) -> list[Batch]:
    """A synthesized hour (scam accounts of four kinds, busy honest ones, aged accounts), with
    lurkers' posts aimed at nobody (new accounts and aged ones) beside it; then two days later
    the same accounts again (no longer new: verdicts fall to `none`), in batches of 150 events."""
    capture = synth_accounts(
        honest=40, support_desks=3, friendly=4, scams_per_kind=3, follows_per_honest=4, seed=seed
    )
    rng = random.Random(seed)
    people = sorted(capture.labels)
    timed: list[tuple[int, Post | AccountEvent]] = []
    for line in capture.events:
        result = normalize(line)
        if result.post is not None:
            timed.append((result.post.time_us, result.post))
            continue
        event = normalize_account_event(decode_event(line)).event
        if event is not None:
            timed.append((event.time_us, event))
    serial = 0
    for day in (0, 2):
        for i in range(60):
            did = f"did:plc:lurker{i:019d}"
            for _ in range(rng.randint(1, 4)):
                serial += 1
                t = START + day * DAY + rng.randrange(60 * MINUTE)
                if rng.random() < 0.15:  # now and then a reply to someone else
                    parent = f"at://{rng.choice(people)}/app.bsky.feed.post/p{serial}"
                    timed.append((t, _post(did, t, serial, "quite the day around here", parent)))
                else:
                    timed.append((t, _post(did, t, serial, f"lurking post number {serial}")))
        if day == 2:  # the synthesized accounts post again, two days older
            for did in people:
                serial += 1
                t = START + day * DAY + rng.randrange(60 * MINUTE)
                timed.append((t, _post(did, t, serial, "back again today", mentions=[rng.choice(people)])))
    timed.sort(key=lambda pair: pair[0])
    batches: list[Batch] = []
    for start in range(0, len(timed), 150):
        posts = [item for _, item in timed[start : start + 150] if isinstance(item, Post)]
        events = [item for _, item in timed[start : start + 150] if isinstance(item, AccountEvent)]
        batches.append((posts, events))
    return batches


def _stores(kind: str, tmp_path: Path) -> tuple[StateStore, StateStore]:
    if kind == "memory":
        return MemoryStateStore(), MemoryStateStore()
    return SqliteStateStore(tmp_path / "shortcut.db"), SqliteStateStore(tmp_path / "every.db")


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_new_account_at_review_judges_every_account_as_the_twin_does(store_kind: str, tmp_path: Path) -> None:
    policy = load_default_policy()
    spec = _new_account_reaches_review(policy.spec)
    shortcut_store, every_store = _stores(store_kind, tmp_path)
    clock = [START / 1_000_000]
    shortcut = AccountTracker(spec, shortcut_store, policy.version, lambda: clock[0])
    every = _JudgeEvery(spec, every_store, policy.version, lambda: clock[0])
    assert shortcut._new_account_flags
    stored: set[str] = set()  # accounts with a stored verdict (the same in both)
    judged_first_time = left_out = flagged = 0
    for posts, events in _batches(seed=3):
        clock[0] = max([p.time_us for p in posts] + [e.time_us for e in events]) / 1_000_000
        got = {v.did: v for v in shortcut.observe(posts, events)}
        want = {v.did: v for v in every.observe(posts, events)}
        assert set(got) <= set(want)
        for did, verdict in want.items():
            if did in got:
                assert got[did].to_json() == verdict.to_json()
                flagged += verdict.action != "none"
                continue
            # Left out: only an account with a stored verdict, whose verdict cannot have moved.
            assert did in stored, f"{did} had no stored verdict and was not judged"
            assert verdict.action == "none" and not verdict.changed, verdict
            left_out += 1
        judged_first_time += len(set(got) - stored)
        stored |= set(got)
        assert shortcut.verdicts_of(sorted(stored)).keys() == every.verdicts_of(sorted(stored)).keys()
    # The batches reach every case: first judgements, accounts left out, flagged accounts.
    assert judged_first_time > 100 and left_out > 100 and flagged > 150


def test_under_the_default_policy_an_account_left_out_is_never_one_the_twin_flags() -> None:
    """The default policy (`new_account` alone below review): new posters with nothing firing
    are left out too; the twin never flags one of them nor changes one's verdict."""
    policy = load_default_policy()
    clock = [START / 1_000_000]
    shortcut = AccountTracker(policy.spec, MemoryStateStore(), policy.version, lambda: clock[0])
    every = _JudgeEvery(policy.spec, MemoryStateStore(), policy.version, lambda: clock[0])
    assert not shortcut._new_account_flags
    left_out = 0
    for posts, events in _batches(seed=5):
        clock[0] = max([p.time_us for p in posts] + [e.time_us for e in events]) / 1_000_000
        got = {v.did: v for v in shortcut.observe(posts, events)}
        want = {v.did: v for v in every.observe(posts, events)}
        assert set(got) <= set(want)
        for did, verdict in want.items():
            if did in got:
                assert (got[did].action, got[did].reasons, got[did].changed) == (
                    verdict.action,
                    verdict.reasons,
                    verdict.changed,
                )
            else:
                assert verdict.action == "none" and not verdict.changed, verdict
                left_out += 1
    assert left_out > 100
