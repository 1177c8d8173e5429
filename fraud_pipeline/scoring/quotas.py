"""Daily quotas per label: the circuit breaker on automatic actions (after Bluesky's automod).

A rule or threshold gone wrong can auto-label thousands of innocent posts in minutes. Each
label value may be automatically actioned at most `quotas.per_label[label]` (else
`quotas.default_per_day`) times per UTC day, counted in the state store so every shard and
Lambda container shares the count. Past the quota the label is still recorded, but the
post's `label` action becomes `review`; `Label-Quota-Exceeded` counts it and a log line
raises the alert. A campaign's verdict updates (re-labelled earlier posts) are automatic
actions too and draw on the same quota. One state-store call per label per batch, not per post.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from fraud_pipeline.policy.schema import Quotas
from fraud_pipeline.state.base import StateStore

log = logging.getLogger(__name__)
QUOTA_TTL_S = 2 * 86400  # a day's counters outlive the day a little, then expire


def quota_key(label: str, day: str) -> str:
    return f"quota/{day}/{label}"


def utc_day(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1_000_000, tz=UTC).strftime("%Y-%m-%d")


class QuotaBreaker:
    """Grants automatic actions per (label, day) against the shared daily count."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._alerted: set[tuple[str, str]] = set()

    def grant(self, requests: list[tuple[str, str]], quotas: Quotas) -> list[bool]:
        """For each (label, day) request in order: may it still be auto-actioned?"""
        wanted = Counter(requests)
        allowed: dict[tuple[str, str], int] = {}
        for (label, day), count in wanted.items():
            total = self.state.increment(quota_key(label, day), count, ttl_s=QUOTA_TTL_S)
            limit = quotas.limit(label)
            allowed[(label, day)] = max(0, min(count, limit - (total - count)))
            if total > limit and (label, day) not in self._alerted:
                self._alerted.add((label, day))
                log.error(
                    "ALERT label quota: %r reached its daily quota of %d on %s; further posts go to review",
                    label,
                    limit,
                    day,
                )
        granted = []
        for request in requests:
            granted.append(allowed[request] > 0)
            allowed[request] -= 1
        return granted
