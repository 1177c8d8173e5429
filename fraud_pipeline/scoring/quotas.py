"""Daily quotas per label: the circuit breaker on automatic actions (after Bluesky's automod).

A rule or threshold gone wrong can auto-label thousands of innocent posts in minutes. Each
label value may be automatically actioned at most `quotas.per_label[label]` (else
`quotas.default_per_day`) times per UTC day, counted in the state store so every shard and
Lambda container shares the count. Past the quota the label is still recorded, but the
post's `label` action becomes `review`; `Label-Quota-Exceeded` counts it and a log line
raises the alert. A campaign's verdict updates (re-labelled earlier posts) are automatic
actions too and draw on the same quota. One state-store call per label per batch, not per post.

Labels on accounts (a DID: everything the account posts) have their own, smaller quota,
`accounts.quota_per_day` (`apply_account_quota`): each new `label` action on an account
draws on it, counted under its own key; past it the account record goes out as `review`
with its label still recorded (the labeler publishes nothing for it), and
`Account-Label-Quota-Exceeded` and an `ALERT account label quota` line say so. An account
already labelled keeps its label when its signals change (the breaker never negates a
published label); one that was held back is remembered (`acct:quota-held:<did>`, in the
store's cache) so it draws on the quota when it is labelled later, and an account granted a
label is marked for the day so a retried batch draws nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from fraud_pipeline.policy.schema import AccountsSpec, Quotas
from fraud_pipeline.records import ACCOUNT_OPERATION, TaggedRecord
from fraud_pipeline.state.base import StateStore

log = logging.getLogger(__name__)
QUOTA_TTL_S = 2 * 86400  # a day's counters outlive the day a little, then expire


def quota_key(label: str, day: str) -> str:
    return f"quota/{day}/{label}"


def account_quota_key(label: str, day: str) -> str:
    """The counter of new account labels (on DIDs), apart from the same value's post labels."""
    return f"quota/{day}/account/{label}"


def held_key(did: str) -> str:
    return f"acct:quota-held:{did}"


def granted_key(did: str, day: str) -> str:
    """Set when an account's label was granted on `day`: the same account labelled again that
    day (a retried batch puts the same record again) draws nothing more."""
    return f"acct:quota-granted:{day}:{did}"


def utc_day(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1_000_000, tz=UTC).strftime("%Y-%m-%d")


class QuotaBreaker:
    """Grants automatic actions per (label, day) against the shared daily count."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._alerted: set[tuple[str, str, str]] = set()

    def grant(self, requests: list[tuple[str, str]], quotas: Quotas) -> list[bool]:
        """For each (label, day) request in order: may it still be auto-actioned?"""
        return self._grant(requests, quotas.limit, quota_key, "label quota", "posts")

    def grant_accounts(self, requests: list[tuple[str, str]], limit: int) -> list[bool]:
        """The same for new labels on accounts, against `accounts.quota_per_day`."""
        return self._grant(
            requests, lambda _label: limit, account_quota_key, "account label quota", "accounts"
        )

    def _grant(
        self,
        requests: list[tuple[str, str]],
        limit_of: Callable[[str], int],
        key_of: Callable[[str, str], str],
        what: str,
        subjects: str,
    ) -> list[bool]:
        wanted = Counter(requests)
        allowed: dict[tuple[str, str], int] = {}
        for (label, day), count in wanted.items():
            total = self.state.increment(key_of(label, day), count, ttl_s=QUOTA_TTL_S)
            limit = limit_of(label)
            allowed[(label, day)] = max(0, min(count, limit - (total - count)))
            if total > limit and (what, label, day) not in self._alerted:
                self._alerted.add((what, label, day))
                log.error(
                    "ALERT %s: %r reached its daily quota of %d on %s; further %s go to review",
                    what,
                    label,
                    limit,
                    day,
                    subjects,
                )
        granted = []
        for request in requests:
            granted.append(allowed[request] > 0)
            allowed[request] -= 1
        return granted


def _previous_action(record: TaggedRecord) -> str | None:
    """The action of the account's verdict before this record (kept in `account_signals`)."""
    try:
        signals = orjson.loads(record.account_signals or "{}")
    except orjson.JSONDecodeError:
        return None
    previous = signals.get("previous_action") if isinstance(signals, dict) else None
    return previous if isinstance(previous, str) else None


def apply_account_quota(
    breaker: QuotaBreaker, records: list[TaggedRecord], spec: AccountsSpec
) -> Counter[str]:
    """Past `spec.quota_per_day` new account labels in the account's UTC day (all shards), an
    account record's `label` action becomes `review`, its labels kept; trips per label.

    New: the account's previous action was not `label`, or it was but the breaker held that
    label back (then nothing was published; a held account is remembered for `memory_days`).
    A labelled account whose signals changed keeps its label and draws nothing, and so does an
    account already granted a label that day (a retried batch, a label cleared and given back):
    the quota counts accounts newly labelled per day. A state-store read of the marks per batch
    with labelled accounts and at most two writes of them, besides one counter increment per
    (label, day)."""
    labelled = [r for r in records if r.operation == ACCOUNT_OPERATION and r.action == "label"]
    trips: Counter[str] = Counter()
    if not labelled:
        return trips
    days = {id(r): utc_day(r.time_us) for r in labelled}
    keys = [held_key(r.did) for r in labelled] + [granted_key(r.did, days[id(r)]) for r in labelled]
    marked = {key for key, value in breaker.state.get_cached(keys).items() if value}
    new = [
        r
        for r in labelled
        if granted_key(r.did, days[id(r)]) not in marked
        and (_previous_action(r) != "label" or held_key(r.did) in marked)
    ]
    requests = [(label, days[id(r)]) for r in new for label in r.labels]
    granted = iter(breaker.grant_accounts(requests, spec.quota_per_day))
    marks: dict[str, str] = {}  # held marks, kept for memory_days
    grants: dict[str, str] = {}  # granted marks, kept as long as the day's counter
    for record in new:
        over = [label for label in record.labels if not next(granted)]
        if over:
            record.action = "review"
            trips.update(over)
            record.reasons.append(
                f"daily account label quota reached for {', '.join(over)}: sent to review, not labelled"
            )
            marks[held_key(record.did)] = days[id(record)]
        else:
            grants[granted_key(record.did, days[id(record)])] = "1"
            if held_key(record.did) in marked:
                marks[held_key(record.did)] = ""  # labelled now: no longer held
    if marks:
        breaker.state.put_cached(marks, spec.memory_days * 86_400)
    if grants:
        breaker.state.put_cached(grants, QUOTA_TTL_S)
    return trips
