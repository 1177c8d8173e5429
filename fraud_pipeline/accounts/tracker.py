"""Account-level behaviour and verdicts, counted once for all shards in the state port.

Posts are judged one by one; an account repeating itself at dozens of people, following
hundreds in a minute or announcing a scam in its profile is only visible across events.
`AccountTracker.observe` takes a batch of posts and account events (profiles, follows,
identity, account status), records what they say in member sets of the shared state store
(DynamoDB on AWS, SQLite or memory locally), reads back each touched account's sets and
returns one `AccountVerdict` per account: a score, an action (label / review / none) and
the reasons. The latest verdict of each account is kept as a checkpoint
(`acct:verdict:<did>`, written when it changes) so a post scorer on any shard can read it.
A verdict whose action or fired signals differ from the stored one is marked `changed`:
the scorer puts it on the tagged stream as an account record (the lake's accounts table,
the labeler's labels on the DID, accounts/lake_table.py).

Sets (each member keeps the value of its first sighting, so a batch scored twice counts
nothing twice):
  acct:seen:<did>            "first" -> first event time (account age as first seen)
  acct:handle:<did>          handle -> time first seen (handle changes)
  acct:profile:<did>         profile event time -> what that profile said (latest wins)
  acct:rt:<did>#<bucket>     accounts replied to or mentioned -> time (reply floods)
  acct:tx:<did>:<digest>#<bucket>  posts (rkey) of one folded text -> time (repeated texts)
  acct:fo:<did>#<bucket>     followed accounts -> time (follow bursts)
  acct:status:<did>          account event time -> "1" active / "0" not (latest wins)
Windowed sets are bucketed by the window, their values fixed-width times; a windowed count
is the distinct members of the current and previous bucket at or after the window's start,
counted by the store (`count_members`: in SQLite itself) so no member row is read back.
A batch is aggregated in memory first and costs a bounded number of store calls however
many events it holds: one `add_members` per TTL, one `count_members`, one `get_members`
(lasting sets), one `get_checkpoints` and at most one `put_checkpoints` (stored verdicts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import orjson

from fraud_pipeline.accounts.events import AccountEvent
from fraud_pipeline.accounts.profile import ProfileFindings, ProfileRules
from fraud_pipeline.policy.schema import AccountsSpec, PolicySpec
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.signals import fold_text
from fraud_pipeline.state.base import Sighting, StateStore
from fraud_pipeline.state.memory import MemoryStateStore

VERDICT_PREFIX: Final = "acct:verdict:"
_FINDINGS_CACHE: Final = 65_536  # (profile, handle) pairs judged; cleared when full
_NO_FINDINGS: Final = ProfileFindings()
_DAY_S: Final = 86_400
_SEEN_CACHE: Final = 1_000_000  # accounts whose first sighting this process wrote


@dataclass(frozen=True, slots=True)
class AccountSignals:
    """What the stream says about one account at the time of its latest event."""

    did: str
    time_us: int
    reply_targets: int = 0  # distinct accounts replied to or mentioned in the window
    repeated_text: int = 0  # posts of its most repeated folded text in the window
    follows: int = 0  # follows in the follow window
    first_seen_us: int = 0
    handle: str | None = None
    handle_changes: int = 0
    profile: ProfileFindings = field(default_factory=ProfileFindings)
    active: bool | None = None

    @property
    def age_s(self) -> float:
        return (self.time_us - self.first_seen_us) / 1_000_000


@dataclass(slots=True)
class AccountVerdict:
    """An account's score, action and reasons (what the lake's accounts table holds)."""

    did: str
    time_us: int
    score: float
    action: str  # label | review | none
    reasons: tuple[str, ...]
    handle: str | None
    policy_version: str | None = None
    # What the score was made of (the accounts table's `account_signals`).
    signals: dict[str, object] = field(default_factory=dict)
    previous_action: str | None = None  # the stored verdict's action before this one (None: first)
    changed: bool = False  # action or fired signals differ from the stored verdict: an account record

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @property
    def signature(self) -> tuple[str, tuple[str, ...]]:
        """What a change is measured on: the action and the names of the signals that fired
        (not their counts: a flood growing from 16 to 17 targets is no new verdict)."""
        return self.action, tuple(sorted(r.partition(":")[0] for r in self.reasons))

    @classmethod
    def from_json(cls, raw: str | bytes) -> AccountVerdict:
        data = orjson.loads(raw)
        data["reasons"] = tuple(data["reasons"])
        return cls(**{k: v for k, v in data.items() if k in _VERDICT_FIELDS})


_VERDICT_FIELDS: Final = frozenset(AccountVerdict.__dataclass_fields__)


def _bucket(time_us: int, window_s: float) -> int:
    return int(time_us // int(window_s * 1_000_000))


def _parent_did(uri: str | None) -> str | None:
    """The author DID of an at:// URI (at://<did>/<collection>/<rkey>)."""
    if not uri or not uri.startswith("at://did:"):
        return None
    end = uri.find("/", 5)
    return uri[5:end] if end > 0 else uri[5:]


def _time_value(time_us: int) -> str:
    """An event time as a set member's value: fixed width, so values compare as strings."""
    return f"{time_us:016d}"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


class AccountTracker:
    """Account signals and verdicts over a state store shared by every shard."""

    def __init__(
        self,
        policy: PolicySpec,
        store: StateStore | None = None,
        policy_version: str | None = None,
    ) -> None:
        if policy.accounts is None:
            raise ValueError("the policy has no accounts section (policy/accounts.yaml)")
        self.spec: AccountsSpec = policy.accounts
        self.rules = ProfileRules.from_policy(policy)
        self.store: StateStore = store if store is not None else MemoryStateStore()
        self.policy_version = policy_version
        self.window_us = int(self.spec.window_s * 1_000_000)
        self.follow_window_us = int(self.spec.follow_window_s * 1_000_000)
        # A profile text the model reads at its review point fires `profile_text`, the same
        # bar a post's text meets to be reviewed.
        self.profile_text_at = policy.thresholds.text_model.review
        self.memory_ttl_s = self.spec.memory_days * _DAY_S
        self.window_ttl_s = int(3 * max(self.spec.window_s, self.spec.follow_window_s)) + 60
        self._findings: dict[tuple[str, str | None], ProfileFindings] = {}
        self._seen_written: set[str] = set()

    # -- recording -----------------------------------------------------------------------

    def observe(
        self,
        posts: Sequence[Post] = (),
        events: Sequence[AccountEvent] = (),
        profile_text_p: Mapping[int, float] | None = None,
    ) -> list[AccountVerdict]:
        """Record a batch and return the verdict of every account it may have changed.

        `profile_text_p`: the text model's score of profile events' texts, by `id(event)`
        (the scorer reads them in one model call); a profile without one is judged by the
        policy's profile rules alone.

        An account whose only events in the batch are follows, still below the burst bar, is
        not re-judged: follows alone cannot raise its verdict, and follows are most of the
        stream. (Verdicts only fall with time, as windows pass; that is seen on its next post
        or profile.) The batch is aggregated in memory first, then costs two writes (lasting
        and windowed sets), one count of the windows (counted where the members are), one
        read of the lasting sets and stored verdicts each, and one write of changed verdicts.
        """
        latest: dict[str, int] = {}  # accounts to judge -> time of their latest event
        follow_only: dict[str, int] = {}  # accounts with only follows in this batch
        first: dict[str, int] = {}
        lasting: list[Sighting] = []
        windowed: dict[tuple[str, str], str] = {}  # (set, member) -> value: first in the batch wins
        digests: dict[str, set[str]] = {}  # account -> its folded texts' digests in this batch
        window_us, follow_window_us = self.window_us, self.follow_window_us
        for post in posts:
            if post.operation == "delete":
                continue
            did, t = post.did, post.time_us
            value = _time_value(t)
            if latest.get(did, -1) < t:
                latest[did] = t
            if first.get(did, t + 1) > t:
                first[did] = t
            targets = set(post.mentions)
            parent = _parent_did(post.reply_parent)
            if parent is not None:
                targets.add(parent)
            targets.discard(did)
            bucket = t // window_us
            if targets:
                rt_key = f"acct:rt:{did}#{bucket}"
                for target in targets:
                    windowed.setdefault((rt_key, target[:512]), value)
            folded = fold_text(post.text)
            if len(folded) >= self.spec.min_text_chars:
                digest = _digest(folded)
                digests.setdefault(did, set()).add(digest)
                windowed.setdefault((f"acct:tx:{did}:{digest}#{bucket}", post.rkey[:512] or "-"), value)
        for event in events:
            did, t = event.did, event.time_us
            if first.get(did, t + 1) > t:
                first[did] = t
            kind = event.kind
            if kind == "follow":
                if follow_only.get(did, -1) < t:
                    follow_only[did] = t
                if event.operation != "delete" and event.subject:
                    key = f"acct:fo:{did}#{t // follow_window_us}"
                    windowed.setdefault((key, event.subject), _time_value(t))
                continue
            if latest.get(did, -1) < t:
                latest[did] = t
            if kind == "profile":
                said = self._profile_said(event, (profile_text_p or {}).get(id(event)))
                lasting.append(Sighting(f"acct:profile:{did}", f"{t:020d}", said))
            elif kind == "identity":
                if event.handle:
                    lasting.append(Sighting(f"acct:handle:{did}", event.handle, str(t)))
            elif kind == "account" and event.active is not None:
                lasting.append(Sighting(f"acct:status:{did}", f"{t:020d}", "1" if event.active else "0"))
        if not latest and not follow_only:
            return []
        lasting.extend(self._first_sightings(first))
        if lasting:
            self.store.add_members(lasting, self.memory_ttl_s)
        if windowed:
            self.store.add_members([Sighting(k, m, v) for (k, m), v in windowed.items()], self.window_ttl_s)
        for did, t in follow_only.items():
            if did in latest:
                latest[did] = max(latest[did], t)
        candidates = {d: t for d, t in follow_only.items() if d not in latest}
        counts = self.store.count_members(self._window_groups(latest, candidates, digests))
        bar = self.spec.follows_per_window
        latest.update({d: t for d, t in candidates.items() if counts.get(f"fo {d}", 0) >= bar})
        if not latest:
            return []
        stored = self._stored_verdicts(latest)
        signals = self.read_signals(latest, counts, digests, stored)
        return self._against_stored([self.judge(s) for s in signals], stored)

    def _first_sightings(self, first: dict[str, int]) -> list[Sighting]:
        """Each account's first sighting, written once per process: the set keeps the first
        value written anyway, so writing it again each batch (most accounts are seen again
        and again) would only cost rows. The memory is bounded and forgets all when full."""
        out = []
        for did, t in first.items():
            if did not in self._seen_written:
                out.append(Sighting(f"acct:seen:{did}", "first", str(t)))
                self._seen_written.add(did)
        if len(self._seen_written) > _SEEN_CACHE:
            self._seen_written.clear()
        return out

    def _window_groups(
        self, latest: dict[str, int], candidates: dict[str, int], digests: dict[str, set[str]]
    ) -> dict[str, tuple[list[str], str]]:
        """The windowed counts one `count_members` call answers: the distinct accounts each
        judged account replied to, its posts of each text it posted in this batch, and the
        follows of every account judged or following in this batch."""
        groups: dict[str, tuple[list[str], str]] = {}
        fw = self.follow_window_us
        for did, t in (*latest.items(), *candidates.items()):
            fb = t // fw
            since = _time_value(t - fw + 1)
            groups[f"fo {did}"] = ([f"acct:fo:{did}#{fb}", f"acct:fo:{did}#{fb - 1}"], since)
        w = self.window_us
        for did, t in latest.items():
            b = t // w
            since = _time_value(t - w + 1)
            groups[f"rt {did}"] = ([f"acct:rt:{did}#{b}", f"acct:rt:{did}#{b - 1}"], since)
            for digest in digests.get(did, ()):
                keys = [f"acct:tx:{did}:{digest}#{b}", f"acct:tx:{did}:{digest}#{b - 1}"]
                groups[f"tx {did} {digest}"] = (keys, since)
        return groups

    def _stored_verdicts(self, latest: dict[str, int]) -> dict[str, AccountVerdict]:
        stored = self.store.get_checkpoints([VERDICT_PREFIX + did for did in latest])
        return {key[len(VERDICT_PREFIX) :]: AccountVerdict.from_json(raw) for key, raw in stored.items()}

    def _against_stored(
        self, verdicts: list[AccountVerdict], stored: dict[str, AccountVerdict]
    ) -> list[AccountVerdict]:
        """Mark each verdict `changed` against the stored one: its action changed, or it is
        flagged and the signals that fired changed (one read; a write only for verdicts whose
        action or signals differ). An account first judged `none` is stored, not changed.
        The same batch scored again (a retried stream batch: the stored verdict is this one,
        same event time) is marked as it was, so its account record is put again rather than
        lost; the accounts table and the labeler take the repeat as a no-op."""
        out: list[AccountVerdict] = []
        writes: dict[str, str] = {}
        for v in verdicts:  # fresh verdicts of this batch: marked in place
            before = stored.get(v.did)
            if before is None:
                v.changed = v.action != "none"
            else:
                same = before.signature == v.signature
                if before.time_us == v.time_us and same:
                    v.changed, v.previous_action = before.changed, before.previous_action
                else:
                    v.changed = before.action != v.action or (v.action != "none" and not same)
                    v.previous_action = before.action
                    if same:
                        out.append(v)
                        continue
            out.append(v)
            writes[VERDICT_PREFIX + v.did] = v.to_json().decode()
        if writes:
            self.store.put_checkpoints(writes)
        return out

    def _profile_said(self, event: AccountEvent, text_p: float | None) -> str:
        """What a profile says that outlives it: the rule findings, the text model's score and
        the display name (impersonation is judged against the handle at verdict time: it may
        change)."""
        if event.operation == "delete":
            return "{}"
        found = self.rules.findings(event.display_name, event.description, None)
        return orjson.dumps(
            {
                "contact": found.contact,
                "phone": found.phone,
                "services": found.services,
                "p": None if text_p is None else round(text_p, 4),
                "name": (event.display_name or "")[:200],
            }
        ).decode()

    # -- reading -------------------------------------------------------------------------

    def read_signals(
        self,
        latest: dict[str, int],
        counts: Mapping[str, int],
        digests: Mapping[str, set[str]],
        stored: Mapping[str, AccountVerdict],
    ) -> list[AccountSignals]:
        """Each account's signals at its latest event time: the windowed counts, and its
        lasting sets (first sighting, handles, profiles, status) in one `get_members` call.

        The most repeated text is counted for the texts the account posted in this batch; an
        account judged on other events keeps the count its stored verdict measured while that
        is inside the window (its texts are not re-read)."""
        keys: list[str] = []
        for did in latest:
            keys += (f"acct:seen:{did}", f"acct:handle:{did}", f"acct:profile:{did}", f"acct:status:{did}")
        sets = self.store.get_members(keys)
        empty: dict[str, str] = {}
        out = []
        for did, t in latest.items():
            texts = digests.get(did)
            if texts:
                repeated = max(counts.get(f"tx {did} {d}", 0) for d in texts)
            else:
                before = stored.get(did)
                was = before.signals.get("repeated_text") if before is not None else None
                recent = before is not None and before.time_us > t - self.window_us
                repeated = was if recent and isinstance(was, int) else 0
            first = sets.get(f"acct:seen:{did}", empty).get("first")
            handles = sets.get(f"acct:handle:{did}", empty)
            handle = max(handles, key=lambda h: int(handles[h])) if handles else None
            status = sets.get(f"acct:status:{did}", empty)
            out.append(
                AccountSignals(
                    did=did,
                    time_us=t,
                    reply_targets=counts.get(f"rt {did}", 0),
                    repeated_text=repeated,
                    follows=counts.get(f"fo {did}", 0),
                    first_seen_us=min(int(first), t) if first else t,
                    handle=handle,
                    handle_changes=max(0, len(handles) - 1),
                    profile=self._latest_profile(sets.get(f"acct:profile:{did}", empty), handle),
                    active=status[max(status)] == "1" if status else None,
                )
            )
        return out

    def _latest_profile(self, profiles: dict[str, str], handle: str | None) -> ProfileFindings:
        if not profiles:
            return _NO_FINDINGS
        raw = profiles[max(profiles)]
        cached = self._findings.get((raw, handle))
        if cached is None:
            if len(self._findings) >= _FINDINGS_CACHE:
                self._findings.clear()
            cached = self._findings[(raw, handle)] = self._profile_findings(raw, handle)
        return cached

    def _profile_findings(self, raw: str, handle: str | None) -> ProfileFindings:
        said = orjson.loads(raw)
        if not said:
            return _NO_FINDINGS
        return ProfileFindings(
            contact=bool(said.get("contact")),
            phone=bool(said.get("phone")),
            services=bool(said.get("services")),
            impersonates=self.rules.impersonated(said.get("name"), handle),
            text_likelihood=said.get("p"),
        )

    # -- judging -------------------------------------------------------------------------

    def judge(self, s: AccountSignals) -> AccountVerdict:
        """Noisy-OR of the weights of the signals that fired; tiers from the policy."""
        spec, w = self.spec, self.spec.weights
        fired: list[tuple[str, float]] = []
        if s.profile.contact:
            fired.append(("profile_contact", w.profile_contact))
        if s.profile.phone:
            fired.append(("profile_phone", w.profile_phone))
        if s.profile.services:
            fired.append(("profile_services", w.profile_services))
        if s.profile.text_likelihood is not None and s.profile.text_likelihood >= self.profile_text_at:
            fired.append(("profile_text", w.profile_text))
        if s.profile.impersonates:
            fired.append((f"impersonation:{s.profile.impersonates}", w.impersonation))
        if s.reply_targets >= spec.reply_targets:
            fired.append((f"reply_flood:{s.reply_targets}", w.reply_flood))
        if s.repeated_text >= spec.repeated_text:
            fired.append((f"repeated_text:{s.repeated_text}", w.repeated_text))
        if s.follows >= spec.follows_per_window:
            fired.append((f"follow_burst:{s.follows}", w.follow_burst))
        if s.age_s < spec.new_account_s:
            fired.append(("new_account", w.new_account))
        if s.handle_changes >= spec.handle_changes:
            fired.append((f"handle_changes:{s.handle_changes}", w.handle_changes))
        keep = 1.0
        for _, weight in fired:
            keep *= 1.0 - weight
        score = 1.0 - keep
        action = "label" if score >= spec.tiers.label else "review" if score >= spec.tiers.review else "none"
        if s.active is False:  # a deactivated or taken-down account needs no label from us
            action = "none"
        return AccountVerdict(
            did=s.did,
            time_us=s.time_us,
            score=round(score, 6),
            action=action,
            reasons=tuple(name for name, _ in fired),
            handle=s.handle,
            policy_version=self.policy_version,
            signals={
                "reply_targets": s.reply_targets,
                "repeated_text": s.repeated_text,
                "follows": s.follows,
                "age_s": round(s.age_s, 3),
                "handle_changes": s.handle_changes,
                "profile_contact": s.profile.contact,
                "profile_phone": s.profile.phone,
                "profile_services": s.profile.services,
                "impersonates": s.profile.impersonates,
                "profile_text_likelihood": s.profile.text_likelihood,
                "active": s.active,
            },
        )

    def verdicts_of(self, dids: Iterable[str]) -> dict[str, AccountVerdict]:
        """The latest stored verdict of each account that has one."""
        stored = self.store.get_checkpoints([VERDICT_PREFIX + did for did in dids])
        return {key[len(VERDICT_PREFIX) :]: AccountVerdict.from_json(raw) for key, raw in stored.items()}
