"""Account-level behaviour and verdicts, counted once for all shards in the state port.

Posts are judged one by one; an account repeating itself at dozens of people, following
hundreds in a minute or announcing a scam in its profile is only visible across events.
`AccountTracker.observe` takes a batch of posts and account events (profiles, follows,
identity, account status), records what they say in member sets of the shared state store
(DynamoDB on AWS, SQLite or memory locally), reads back the sets of each touched account
whose verdict may have moved (`_quiet` says which cannot) and returns one `AccountVerdict`
for each: a score, an action (label / review / none) and the reasons. The latest verdict
of each account is kept as a checkpoint (`acct:verdict:<did>`, written when it changes) so
a post scorer on any shard can read it.
A verdict whose action or fired signals differ from the stored one is marked `changed`:
the scorer puts it on the tagged stream as an account record (the lake's accounts table,
the labeler's labels on the DID, accounts/lake_table.py).

What lasts is one member set per account in the state store, `acct:record:<did>` (each
member keeps the value of its first sighting, so a batch scored twice counts nothing twice;
one set, not one per kind: an account judged is one item read, not four):
  "seen"                     -> first event time (account age as first seen)
  "h:<handle>"               -> time first seen (handle changes)
  "p:<event time>"           -> what that profile said (latest wins)
  "s:<event time>"           -> "1" active / "0" not (latest wins)
(Until 2026-11 these were four sets, `acct:seen:`, `acct:handle:`, `acct:profile:` and
`acct:status:<did>`; they are no longer read, so an account's first sighting, handles and
profile restart once at the upgrade.)
The windowed counts (distinct accounts replied to or mentioned, replies and mentions of one
folded text, accounts followed) are not member rows: each batch writes one delta of what it saw and the
counts are summed in memory, merging other writers' deltas before counting
(accounts/windows.py: idempotent, exact, a handful of rows per batch).
A batch is aggregated in memory first and costs a bounded number of store calls however
many events it holds: one `add_members` of lasting members, one delta (`put_cached` and its
directory entry), one read of the directory minutes written since the last, one `get_checkpoints` (stored
verdicts), one `get_members` (the records of the accounts judged) and at most one
`put_checkpoints` (changed verdicts).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import orjson

from fraud_pipeline.accounts.events import AccountEvent
from fraud_pipeline.accounts.profile import ProfileFindings, ProfileRules
from fraud_pipeline.accounts.windows import FOLLOW, REPLY, TEXT, AccountWindows, Entry
from fraud_pipeline.batch_gc import collector_paused
from fraud_pipeline.policy.schema import AccountsSpec, PolicySpec
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.canonical import TextForms, fold_text
from fraud_pipeline.state.base import MAX_MEMBER_CHARS, SightingRow, StateStore
from fraud_pipeline.state.memory import MemoryStateStore

VERDICT_PREFIX: Final = "acct:verdict:"
RECORD_PREFIX: Final = "acct:record:"  # an account's lasting members (first sighting, handles, ...)
_FINDINGS_CACHE: Final = 65_536  # (profile, handle) pairs judged; cleared when full
_NO_FINDINGS: Final = ProfileFindings()
_DAY_S: Final = 86_400
_SEEN_CACHE: Final = 1_000_000  # accounts whose first sighting this process wrote
_PARSED_CACHE: Final = 65_536  # stored verdicts parsed, by their JSON; cleared when full
_VERDICT_PREFIX_CHARS: Final = len(VERDICT_PREFIX)
_RKEY_CHARS: Final = 400  # of a post's rkey in a text member ("<digest>:<rkey>", under 512)


@dataclass(slots=True)
class AccountSignals:
    """What the stream says about one account at the time of its latest event (read-only by
    convention: not frozen, whose field-by-field `object.__setattr__` made building one cost
    three times as much, once per account judged)."""

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
        """The fields as a dict, in their order (the bytes `orjson.dumps(self)` gives): orjson
        reading the dataclass itself crashes on a mypyc-compiled class, whose bare `float` is
        stored unboxed (docs/performance.md, the compiled build)."""
        return orjson.dumps(
            {
                "did": self.did,
                "time_us": self.time_us,
                "score": self.score,
                "action": self.action,
                "reasons": self.reasons,
                "handle": self.handle,
                "policy_version": self.policy_version,
                "signals": self.signals,
                "previous_action": self.previous_action,
                "changed": self.changed,
            }
        )

    @property
    def signature(self) -> tuple[str, tuple[str, ...]]:
        """What a change is measured on: the action and the names of the signals that fired
        (not their counts: a flood growing from 16 to 17 targets is no new verdict)."""
        return self.action, _signal_names(self.reasons)

    @property
    def fired(self) -> frozenset[str]:
        """The names of the signals that fired (`reply_flood`, not `reply_flood:16`)."""
        return frozenset(_signal_names(self.reasons))

    @classmethod
    def from_json(cls, raw: str | bytes) -> AccountVerdict:
        data = orjson.loads(raw)
        data["reasons"] = tuple(data["reasons"])
        return cls(**{k: v for k, v in data.items() if k in _VERDICT_FIELDS})


_VERDICT_FIELDS: Final = frozenset(AccountVerdict.__dataclass_fields__)


@functools.lru_cache(maxsize=4096)
def _signal_names(reasons: tuple[str, ...]) -> tuple[str, ...]:
    """The sorted names of the signals in `reasons` (a verdict and the stored one are compared
    on them once per account judged; most accounts' reasons are one of a few tuples)."""
    return tuple(sorted(r.partition(":")[0] for r in reasons))


def _parent_did(uri: str | None) -> str | None:
    """The author DID of an at:// URI (at://<did>/<collection>/<rkey>)."""
    if not uri or not uri.startswith("at://did:"):
        return None
    end = uri.find("/", 5)
    return uri[5:end] if end > 0 else uri[5:]


def _read_record(
    record: dict[str, str],
) -> tuple[str | None, str | None, int, str | None, str | None]:
    """An account record's (first sighting, latest handle, handles seen, latest profile said,
    latest status): a handle's value is when it was first seen, profiles and statuses are
    keyed by their event time (latest wins)."""
    first = record.get("seen")
    handle: str | None = None
    handle_t = -1
    handles = 0
    profile_key = status_key = ""
    for member, value in record.items():
        tag = member[:2]
        if tag == "h:":
            handles += 1
            seen_t = int(value)
            if seen_t > handle_t or (seen_t == handle_t and handle is not None and member[2:] > handle):
                handle, handle_t = member[2:], seen_t
        elif tag == "p:":
            if member > profile_key:
                profile_key = member
        elif tag == "s:" and member > status_key:
            status_key = member
    return (
        first,
        handle,
        handles,
        record[profile_key] if profile_key else None,
        record[status_key] if status_key else None,
    )


_DIGEST: Final = hashlib.blake2b(digest_size=8)  # copied per text: no keyword parsing per call


def _digest(text: str) -> str:
    """blake2b (8 bytes, hex) of `text`: a copy of an empty hash, updated (the same digest as
    `hashlib.blake2b(data, digest_size=8)` without parsing its keywords for each text)."""
    h = _DIGEST.copy()
    # Strict UTF-8 gives the bytes "replace" does for every text without a lone surrogate,
    # without the codec look-up the error handler costs (about 0.7 k instructions compiled).
    try:
        data = text.encode()
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
    h.update(data)
    return h.hexdigest()


class AccountTracker:
    """Account signals and verdicts over a state store shared by every shard."""

    def __init__(
        self,
        policy: PolicySpec,
        store: StateStore | None = None,
        policy_version: str | None = None,
        clock: Callable[[], float] = time.time,
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
        self._parsed: dict[str, AccountVerdict] = {}  # stored verdict JSON -> parsed
        # (display name, description, model score) -> what the profile said (templates repeat)
        self._said: dict[tuple[str | None, str | None, float | None], str] = {}
        # `new_account` alone reaches review: every account seen must be judged and stored.
        self._new_account_flags = self.spec.weights.new_account >= self.spec.tiers.review
        # `clock`: the minute a batch's delta is listed in (accounts/windows.py); a simulation
        # (benchmarks/bench_cost.py) passes its own.
        # `bars`: the counts `reaching` is asked of, for its heavy sets (accounts/windows.py).
        self.windows = AccountWindows(
            self.store,
            self.window_us,
            self.follow_window_us,
            self.window_ttl_s,
            clock,
            bars=(self.spec.reply_targets, self.spec.repeated_text, self.spec.follows_per_window),
        )

    # -- recording -----------------------------------------------------------------------

    def observe(
        self,
        posts: Sequence[Post] = (),
        events: Sequence[AccountEvent] = (),
        profile_text_p: Mapping[int, float] | None = None,
        texts: Mapping[str, TextForms] | None = None,
    ) -> list[AccountVerdict]:
        """Record a batch and return the verdict of every account it may have changed.

        A post counts toward its account's windows only when it is aimed at someone else (a
        reply to another account, a mention): its targets and its folded text (`repeated_text`
        is a text repeated AT people). A post aimed at nobody is not folded at all, so it costs
        the post path its account's first sighting and stored-verdict lookup, nothing more.

        `profile_text_p`: the text model's score of profile events' texts, by `id(event)`
        (the scorer reads them in one model call); a profile without one is judged by the
        policy's profile rules alone. `texts`: the shared forms of the posts' texts, by text
        (`canonical.batch_forms`: the scorer folds each text once for both trackers).

        An account whose only events in the batch are follows, still below the burst bar, is
        not re-judged: follows alone cannot raise its verdict, and follows are most of the
        stream. Nor is an account with only posts (and follows) in the batch whose stored
        verdict is `none` (or that has none) while no windowed signal fires that had not fired
        in it (`_quiet`): nothing that could raise its verdict moved (its record changes
        only with profile, identity and account events, which always judge it). (Verdicts only
        fall with time, as windows pass; that is seen on its next judged event.) The batch's
        windowed members go to the store as one delta (accounts/windows.py), its records
        in one write; then one read of the directory minutes new since the last, one of the
        stored verdicts, one of the records of the accounts judged, and one write of changed verdicts.
        """
        if not (posts or events):
            return []
        with collector_paused():  # no collection mid-batch (fraud_pipeline/batch_gc.py)
            return self._observe(posts, events, profile_text_p, texts)

    def _observe(
        self,
        posts: Sequence[Post],
        events: Sequence[AccountEvent],
        profile_text_p: Mapping[int, float] | None,
        texts: Mapping[str, TextForms] | None = None,
    ) -> list[AccountVerdict]:
        """`observe` with the garbage collector paused: a batch builds thousands of short-lived
        tuples and dicts (entries, keys, sightings, verdicts) and frees them by reference
        counting; the tracker builds no reference cycles."""
        latest: dict[str, int] = {}  # accounts to judge -> time of their latest event
        followed: dict[str, int] = {}  # accounts that followed in this batch -> their latest follow
        account_news: set[str] = set()  # accounts with profile, identity or account events
        first: dict[str, int] = {}
        lasting: list[SightingRow] = []
        entries: list[Entry] = []
        add = entries.append
        min_chars = self.spec.min_text_chars
        digests: dict[str, str | None] = {}  # text -> digest of its folded form (None: too short)
        # One walk: compiled, its two dict look-ups a post cost less than building the two dicts
        # from columns in C (`dict(zip(...))`, `update`, `all(map(le, ...))`: 1.7 k instructions
        # a post in 7ad7e75's compiled profile).
        for post in posts:
            if post.operation == "delete":
                continue
            did, t = post.did, post.time_us
            # An account's first post time is at most its latest: only a post older than the
            # latest can be older than the first (the batch in time order: one look-up a post).
            before = latest.get(did)
            if before is None:
                latest[did] = first[did] = t
            elif before < t:
                latest[did] = t
            elif first[did] > t:
                first[did] = t
            mentions = post.mentions
            reply_parent = post.reply_parent
            if not (mentions or reply_parent):  # aimed at nobody: most posts
                continue
            parent = _parent_did(reply_parent) if reply_parent else None
            if mentions:
                targets = set(mentions)
                if parent is not None:
                    targets.add(parent)
                targets.discard(did)
                if not targets:
                    continue
                for target in targets:
                    add((REPLY, did, target[:MAX_MEMBER_CHARS], t))
            elif parent is not None and parent != did:
                add((REPLY, did, parent[:MAX_MEMBER_CHARS], t))
            else:  # aimed at nobody else: no reply target, and its text is no repeat at people
                continue
            text = post.text
            digest = digests.get(text, "")
            if digest == "":  # once per distinct text per batch (templates repeat)
                folded = texts[text].folded if texts is not None else fold_text(text)
                digest = digests[text] = _digest(folded) if len(folded) >= min_chars else None
            if digest is not None:
                add((TEXT, did, f"{digest}:{post.rkey[:_RKEY_CHARS] or '-'}", t))
        for event in events:
            did, t = event.did, event.time_us
            if first.get(did, t + 1) > t:
                first[did] = t
            kind = event.kind
            if kind == "follow":
                if followed.get(did, -1) < t:
                    followed[did] = t
                if event.operation != "delete" and event.subject:
                    add((FOLLOW, did, event.subject[:MAX_MEMBER_CHARS], t))
                continue
            if latest.get(did, -1) < t:
                latest[did] = t
            account_news.add(did)
            if kind == "profile":
                said = self._profile_said(event, (profile_text_p or {}).get(id(event)))
                lasting.append((RECORD_PREFIX + did, f"p:{t:020d}", said))
            elif kind == "identity":
                if event.handle:
                    lasting.append((RECORD_PREFIX + did, "h:" + event.handle, str(t)))
            elif kind == "account" and event.active is not None:
                lasting.append((RECORD_PREFIX + did, f"s:{t:020d}", "1" if event.active else "0"))
        if not latest and not followed:
            return []
        lasting.extend(self._first_sightings(first))
        if lasting:
            self.store.add_members(lasting, self.memory_ttl_s)
        windows = self.windows
        windows.record(entries)
        windows.sync(max(max(latest.values(), default=0), max(followed.values(), default=0)))
        follows_alone: dict[str, int] = {}  # accounts with only follows in the batch
        for did, t in followed.items():
            before = latest.get(did)
            if before is None:
                follows_alone[did] = t
            elif before < t:
                latest[did] = t
        for did in windows.follows_reaching(follows_alone, self.spec.follows_per_window):
            latest[did] = follows_alone[did]
        verdicts = self._judge_changed(latest, account_news)
        windows.forget_before(min(first.values()))
        return verdicts

    def _judge_changed(self, latest: dict[str, int], account_news: set[str]) -> list[AccountVerdict]:
        """Judge the accounts whose verdict may have moved (all but the quiet ones)."""
        if not latest:
            return []
        stored = self._stored_verdicts(latest)
        spec = self.spec
        reaching = self.windows.reaching(
            {d: t for d, t in latest.items() if d not in account_news} if account_news else latest,
            spec.reply_targets,
            spec.repeated_text,
            spec.follows_per_window,
        )
        # Unless a new account alone reaches review, an account with no stored verdict and no
        # windowed count at its bar is quiet (`_quiet`): most posters, told by two set look-ups
        # without the call; most post-only batches hold no other (none to walk).
        every_account = self._new_account_flags
        if not (account_news or stored or reaching or every_account):
            return []
        quiet = self._quiet
        judged = {
            d: t
            for d, t in latest.items()
            if d in account_news
            or (
                (every_account or d in stored or d in reaching)
                and not quiet(t, stored.get(d), reaching.get(d))
            )
        }
        if not judged:
            return []
        signals = self.read_signals(judged)
        return self._against_stored([self.judge(s) for s in signals], stored)

    def _quiet(self, t: int, before: AccountVerdict | None, reaching: tuple[bool, bool, bool] | None) -> bool:
        """Nothing that could raise this account's verdict moved (it had no profile, identity
        or account event in this batch), so it need not be judged:
        - no stored verdict: it never had one of those events (they always store one), so at
          most `new_account` and the windows can fire; quiet while no windowed signal fires
          and `new_account` alone stays below review (most posters: one read, no write);
        - a stored `none` verdict older than `t`: quiet while every windowed signal firing
          now already fired in it. Its lasting signals are those of the stored verdict or
          fewer (`new_account` only stops firing): the noisy-OR cannot be higher.
        A replayed or late batch (stored verdict as new as `t`) is always judged again, so
        its verdicts come back as they were. `reaching`: which windowed counts are at their
        bar now (reply targets, one text's posts, follows; None: none is,
        `AccountWindows.reaching`)."""
        if before is None:
            return not self._new_account_flags and reaching is None
        if before.action != "none" or before.time_us >= t:
            return False
        if reaching is None:
            return True
        fired = before.fired
        replies, texts, follows = reaching
        return (
            (not replies or "reply_flood" in fired)
            and (not texts or "repeated_text" in fired)
            and (not follows or "follow_burst" in fired)
        )

    def _first_sightings(self, first: dict[str, int]) -> list[SightingRow]:
        """Each account's first sighting, written once per process: the set keeps the first
        value written anyway, so writing it again each batch (most accounts are seen again
        and again) would only cost rows. The memory is bounded and forgets all when full."""
        seen = self._seen_written
        out: list[SightingRow] = []
        for did, t in first.items():
            if did not in seen:
                out.append((RECORD_PREFIX + did, "seen", str(t)))  # a plain row: no NamedTuple to build
                seen.add(did)
        if len(seen) > _SEEN_CACHE:
            seen.clear()
        return out

    def _stored_verdicts(self, latest: Mapping[str, int]) -> dict[str, AccountVerdict]:
        """The stored verdict of each account (one read); parsed ones are kept by their JSON."""
        stored = self.store.get_checkpoints([VERDICT_PREFIX + did for did in latest])
        parsed = self._parsed
        out: dict[str, AccountVerdict] = {}
        for key, raw in stored.items():
            verdict = parsed.get(raw)
            if verdict is None:
                if len(parsed) >= _PARSED_CACHE:
                    parsed.clear()
                verdict = parsed[raw] = AccountVerdict.from_json(raw)
            out[key[_VERDICT_PREFIX_CHARS:]] = verdict
        return out

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
        parsed = self._parsed
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
            raw = writes[VERDICT_PREFIX + v.did] = v.to_json().decode()
            if len(parsed) >= _PARSED_CACHE:
                parsed.clear()
            parsed[raw] = v  # read back next batch without parsing (verdicts are not changed after)
        if writes:
            self.store.put_checkpoints(writes)
        return out

    def _profile_said(self, event: AccountEvent, text_p: float | None) -> str:
        """What a profile says that outlives it: the rule findings, the text model's score and
        the display name (impersonation is judged against the handle at verdict time: it may
        change)."""
        if event.operation == "delete":
            return "{}"
        key = (event.display_name, event.description, text_p)
        said = self._said.get(key)
        if said is None:
            if len(self._said) >= _FINDINGS_CACHE:
                self._said.clear()
            said = self._said[key] = self._profile_findings_json(event, text_p)
        return said

    def _profile_findings_json(self, event: AccountEvent, text_p: float | None) -> str:
        found = self.rules.said(event.display_name, event.description)
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

    def read_signals(self, latest: Mapping[str, int]) -> list[AccountSignals]:
        """Each account's signals at its latest event time: the windowed counts (in memory,
        accounts/windows.py), and its record (first sighting, handles, profiles, status) in
        one `get_members` call."""
        records = self.store.get_members([RECORD_PREFIX + did for did in latest], self.memory_ttl_s)
        empty: dict[str, str] = {}
        windows = self.windows
        out = []
        for did, t in latest.items():
            first, handle, handle_count, profile, status = _read_record(
                records.get(RECORD_PREFIX + did, empty)
            )
            out.append(
                AccountSignals(
                    did=did,
                    time_us=t,
                    reply_targets=windows.reply_targets(did, t),
                    repeated_text=windows.repeated_text(did, t),
                    follows=windows.follow_count(did, t),
                    first_seen_us=min(int(first), t) if first else t,
                    handle=handle,
                    handle_changes=max(0, handle_count - 1),
                    profile=self._latest_profile(profile, handle),
                    active=None if status is None else status == "1",
                )
            )
        return out

    def _latest_profile(self, raw: str | None, handle: str | None) -> ProfileFindings:
        if raw is None:
            return _NO_FINDINGS
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
