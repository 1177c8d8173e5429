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
  acct:tx:<did>#<bucket>     "<folded text digest>|<rkey>" -> time (repeated texts)
  acct:fo:<did>#<bucket>     followed accounts -> time (follow bursts)
  acct:status:<did>          account event time -> "1" active / "0" not (latest wins)
Windowed sets are bucketed by the window; a count reads the current and previous bucket
and keeps members inside the window. One `add_members` per TTL and one `get_members` per
batch: a batch costs four store calls, however many events it holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True, slots=True)
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
        or profile.) This keeps the account signals well above the stream's event rate.
        """
        spec = self.spec
        latest: dict[str, int] = {}  # accounts to judge -> time of their latest event
        follow_only: dict[str, int] = {}  # accounts with only follows in this batch
        first: dict[str, int] = {}
        lasting: list[Sighting] = []
        windowed: list[Sighting] = []
        window_us = int(spec.window_s * 1_000_000)
        follow_window_us = int(spec.follow_window_s * 1_000_000)
        for post in posts:
            if post.operation == "delete":
                continue
            did, t = post.did, post.time_us
            value = str(t)
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
                windowed.extend(Sighting(rt_key, target[:512], value) for target in targets)
            folded = fold_text(post.text)
            if len(folded) >= spec.min_text_chars:
                windowed.append(
                    Sighting(f"acct:tx:{did}#{bucket}", f"{_digest(folded)}|{post.rkey[:64]}", value)
                )
        for event in events:
            did, t = event.did, event.time_us
            value = str(t)
            if first.get(did, t + 1) > t:
                first[did] = t
            kind = event.kind
            if kind == "follow":
                if follow_only.get(did, -1) < t:
                    follow_only[did] = t
                if event.operation != "delete" and event.subject:
                    windowed.append(Sighting(f"acct:fo:{did}#{t // follow_window_us}", event.subject, value))
                continue
            if latest.get(did, -1) < t:
                latest[did] = t
            if kind == "profile":
                said = self._profile_said(event, (profile_text_p or {}).get(id(event)))
                lasting.append(Sighting(f"acct:profile:{did}", f"{t:020d}", said))
            elif kind == "identity":
                if event.handle:
                    lasting.append(Sighting(f"acct:handle:{did}", event.handle, value))
            elif kind == "account" and event.active is not None:
                lasting.append(Sighting(f"acct:status:{did}", f"{t:020d}", "1" if event.active else "0"))
        if not latest and not follow_only:
            return []
        lasting.extend(Sighting(f"acct:seen:{did}", "first", str(t)) for did, t in first.items())
        self.store.add_members(lasting, self.memory_ttl_s)
        if windowed:
            self.store.add_members(windowed, self.window_ttl_s)
        for did, t in follow_only.items():
            if did in latest:
                latest[did] = max(latest[did], t)
        bursts = self._follow_bursts({d: t for d, t in follow_only.items() if d not in latest})
        latest.update(bursts)
        if not latest:
            return []
        signals = self.read_signals(latest)
        return self._against_stored([self.judge(s) for s in signals])

    def _against_stored(self, verdicts: list[AccountVerdict]) -> list[AccountVerdict]:
        """Mark each verdict `changed` against the stored one: its action changed, or it is
        flagged and the signals that fired changed (one read; a write only for verdicts whose
        action or signals differ). An account first judged `none` is stored, not changed.
        The same batch scored again (a retried stream batch: the stored verdict is this one,
        same event time) is marked as it was, so its account record is put again rather than
        lost; the accounts table and the labeler take the repeat as a no-op."""
        stored = self.store.get_checkpoints([VERDICT_PREFIX + v.did for v in verdicts])
        out: list[AccountVerdict] = []
        writes: dict[str, str] = {}
        for v in verdicts:
            raw = stored.get(VERDICT_PREFIX + v.did)
            before = AccountVerdict.from_json(raw) if raw is not None else None
            if before is None:
                v = replace(v, changed=v.action != "none")
            elif before.time_us == v.time_us and before.signature == v.signature:
                v = replace(v, changed=before.changed, previous_action=before.previous_action)
            else:
                differs = before.signature != v.signature
                changed = before.action != v.action or (v.action != "none" and differs)
                v = replace(v, changed=changed, previous_action=before.action)
                if not differs:
                    out.append(v)
                    continue
            out.append(v)
            writes[VERDICT_PREFIX + v.did] = v.to_json().decode()
        if writes:
            self.store.put_checkpoints(writes)
        return out

    def _follow_bursts(self, follow_only: dict[str, int]) -> dict[str, int]:
        """The follow-only accounts now at or past the burst bar (one get_members call)."""
        if not follow_only:
            return {}
        fw = int(self.spec.follow_window_s * 1_000_000)
        keys: list[str] = []
        for did, t in follow_only.items():
            keys += (f"acct:fo:{did}#{t // fw}", f"acct:fo:{did}#{t // fw - 1}")
        sets = self.store.get_members(keys)
        bar = self.spec.follows_per_window
        out = {}
        for did, t in follow_only.items():
            now = sets.get(f"acct:fo:{did}#{t // fw}")
            before = sets.get(f"acct:fo:{did}#{t // fw - 1}")
            if len(now or ()) + len(before or ()) < bar:
                continue  # cannot reach the bar, whatever the window keeps
            if len(_in_window((now or {}, before or {}), t - self.follow_window_us, t)) >= bar:
                out[did] = t
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

    def read_signals(self, latest: dict[str, int]) -> list[AccountSignals]:
        """Each account's signals at its latest event time (one get_members call)."""
        spec = self.spec
        keys: list[str] = []
        for did, t in latest.items():
            keys += (f"acct:seen:{did}", f"acct:handle:{did}", f"acct:profile:{did}", f"acct:status:{did}")
            b = _bucket(t, spec.window_s)
            fb = _bucket(t, spec.follow_window_s)
            keys += (
                f"acct:rt:{did}#{b}",
                f"acct:rt:{did}#{b - 1}",
                f"acct:tx:{did}#{b}",
                f"acct:tx:{did}#{b - 1}",
            )
            keys += (f"acct:fo:{did}#{fb}", f"acct:fo:{did}#{fb - 1}")
        sets = self.store.get_members(keys)
        empty: dict[str, str] = {}
        out = []
        for did, t in latest.items():
            b = _bucket(t, spec.window_s)
            fb = _bucket(t, spec.follow_window_s)
            since = t - self.window_us
            targets = _in_window(
                (sets.get(f"acct:rt:{did}#{b - 1}", empty), sets.get(f"acct:rt:{did}#{b}", empty)), since, t
            )
            texts = _in_window(
                (sets.get(f"acct:tx:{did}#{b - 1}", empty), sets.get(f"acct:tx:{did}#{b}", empty)), since, t
            )
            counts: dict[str, int] = {}
            for member in texts:
                digest = member.partition("|")[0]
                counts[digest] = counts.get(digest, 0) + 1
            follows = _in_window(
                (sets.get(f"acct:fo:{did}#{fb - 1}", empty), sets.get(f"acct:fo:{did}#{fb}", empty)),
                t - self.follow_window_us,
                t,
            )
            first = sets.get(f"acct:seen:{did}", empty).get("first")
            handles = sets.get(f"acct:handle:{did}", empty)
            handle = max(handles, key=lambda h: int(handles[h])) if handles else None
            status = sets.get(f"acct:status:{did}", empty)
            out.append(
                AccountSignals(
                    did=did,
                    time_us=t,
                    reply_targets=len(targets),
                    repeated_text=max(counts.values(), default=0),
                    follows=len(follows),
                    first_seen_us=int(first) if first else t,
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


def _in_window(sets: Iterable[dict[str, str]], since_us: int, until_us: int) -> set[str]:
    """Members of the sets first seen within (since, until]."""
    out: set[str] = set()
    for members in sets:
        for member, value in members.items():
            if value.isdigit() and since_us < int(value) <= until_us:
                out.add(member)
    return out
