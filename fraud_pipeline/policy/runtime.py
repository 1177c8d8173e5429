"""The policy a running scorer uses, kept current without a restart.

`PolicyHolder.current()` returns the active policy (with its rules compiled). At most every
`check_every_s` seconds it asks the source for a cheap stamp of the files (names, sizes,
times); only when that changed does it read, hash and validate them. A new version that
fails validation is refused: the old one stays active, a log line names every problem and
the `Policy-Reload-Rejected` count goes up. The caller asks once per batch, so a whole
batch is judged by one version: a reload never drops or double-scores a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fraud_pipeline.policy.loader import Policy, PolicyError, load_policy, policy_version
from fraud_pipeline.policy.source import (
    PolicySource,
    PolicySourceError,
    load_default_policy,
    open_policy_source,
)
from fraud_pipeline.scoring.rules import RuleSet

if TYPE_CHECKING:
    from fraud_pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActivePolicy:
    policy: Policy
    rules: RuleSet

    @property
    def version(self) -> str:
        return self.policy.version


def activate(policy: Policy) -> ActivePolicy:
    return ActivePolicy(policy, RuleSet(policy.spec))


class PolicyHolder:
    """The active policy, refreshed from `source` at most every `check_every_s` seconds."""

    def __init__(
        self,
        source: PolicySource | None,
        initial: Policy | None = None,
        check_every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.check_every_s = check_every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._stamp: object = None
        self._rejected_version: str | None = None
        self.reloads = 0
        self.rejections = 0
        self._reported_rejections = 0
        self.last_error: str | None = None
        if initial is None:
            if source is None:
                raise ValueError("a PolicyHolder needs a source or an initial policy")
            files = source.read()
            initial = load_policy(files)  # the first policy must be valid: nothing to fall back to
            self._stamp = _stamp(source)
        self._active = activate(initial)
        self._checked_at = clock()

    @classmethod
    def fixed(cls, policy: Policy) -> PolicyHolder:
        """A holder that never reloads (tests, tools)."""
        return cls(None, policy)

    def current(self) -> ActivePolicy:
        if self.source is not None and self.clock() - self._checked_at >= self.check_every_s:
            self.refresh()
        return self._active

    def refresh(self) -> bool:
        """Check the source now; True when a new version became active."""
        if self.source is None:
            return False
        with self._lock:
            self._checked_at = self.clock()
            try:
                stamp = _stamp(self.source)
                if stamp is not None and stamp == self._stamp:
                    return False
                files = self.source.read()
            except PolicySourceError as exc:
                log.warning(
                    "policy: cannot read %s (%s); keeping %s", self.source.describe(), exc, self.version
                )
                return False
            version = policy_version(files)
            if version == self._active.version or version == self._rejected_version:
                self._stamp = stamp
                return False
            try:
                policy = load_policy(files)
            except PolicyError as exc:
                self.rejections += 1
                self._rejected_version = version
                self._stamp = stamp
                self.last_error = str(exc)
                log.error("policy: version %s refused, keeping %s: %s", version, self.version, exc)
                return False
            self._active = activate(policy)
            self._stamp = stamp
            self.reloads += 1
            log.info("policy: now %s (from %s)", policy.version, self.source.describe())
            return True

    @property
    def version(self) -> str:
        return self._active.version

    def take_rejections(self) -> int:
        """Refused versions since the last call (for a per-batch metric)."""
        new = self.rejections - self._reported_rejections
        self._reported_rejections = self.rejections
        return new


def _stamp(source: PolicySource) -> object:
    stamp = getattr(source, "stamp", None)
    return stamp() if callable(stamp) else None


def open_policy_holder(settings: Settings) -> PolicyHolder:
    """The scoring runtime's policy, from the deployment's source, reloaded as settings say.

    On a cold start with no valid policy at the source (nothing pushed yet, or a bad push)
    the runtime starts on the policy shipped with the package and says so; it then picks up
    the first valid version pushed.
    """
    source = open_policy_source(settings)
    try:
        return PolicyHolder(source, check_every_s=settings.policy_reload_seconds)
    except (PolicyError, PolicySourceError) as exc:
        fallback = load_default_policy()
        log.error(
            "policy: %s unusable (%s); starting on the bundled policy %s",
            source.describe(),
            exc,
            fallback.version,
        )
        holder = PolicyHolder(source, fallback, check_every_s=settings.policy_reload_seconds)
        return holder


def current_policy(settings: Settings) -> Policy:
    """The deployment's policy as it stands (for Dagster checks, dbt vars, tools): the
    source's version when valid, else the bundled one (with a log line saying why)."""
    source = open_policy_source(settings)
    try:
        return load_policy(source.read())
    except (PolicyError, PolicySourceError) as exc:
        log.error("policy: %s unusable (%s); using the bundled policy", source.describe(), exc)
        return load_default_policy()
