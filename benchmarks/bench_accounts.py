"""Account verdicts on a synthesized hour: scam-account recall, honest accounts flagged, speed.

Builds `accounts.synth.synth_accounts` (scam accounts of four kinds beside ordinary accounts,
busy support desks and friendly repliers), normalizes every event, and runs the account
tracker over it in time-ordered batches on the local backend (SQLite state store, and the
in-memory store beside it). Prints one JSON object:

- recall per scam kind and overall (an account counts as caught when its verdict reaches
  review or label at any point), honest accounts flagged (any point), by kind of honest;
- every post through the post-only scorer (text model, signals, rules; account verdicts off)
  and through the pipeline's scorer (posts and account events together): the scam accounts'
  replies flagged, honest posts flagged and the rules that fired on them;
- throughput of the account signals in events per CPU second on one core (median of runs),
  and with `--baseline REV` the same measure of the tracker at git revision REV beside it
  (that revision's package is extracted with `git archive` and timed in a child process on
  the same batches: before/after side by side in one run).

    python benchmarks/bench_accounts.py [--honest 2000] [--runs 3] [--baseline 9aeb0cd]
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from baseline import extract_revision, run_in_revision

from fraud_pipeline.accounts.events import AccountEvent, normalize_account_event
from fraud_pipeline.accounts.synth import SCAM_KINDS, synth_accounts
from fraud_pipeline.accounts.tracker import AccountTracker
from fraud_pipeline.ingest.normalize import decode_event, normalize
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.records import Post
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore

BATCH = 500  # events per tracker call, as a scoring batch would hold


Batch = tuple[list[Post], list[AccountEvent], dict[int, float]]


def _profile_scores(batches: list[tuple[list[Post], list[AccountEvent]]]) -> list[Batch]:
    """The text model's score of each batch's profile texts (as the scorer reads them), computed
    once outside the timed part: the model's speed is measured by its own benchmark."""
    from fraud_pipeline.serving.clients import open_text_scorer
    from fraud_pipeline.settings import load_settings

    model = open_text_scorer(load_settings(environ={}))
    out: list[Batch] = []
    for posts, events in batches:
        profiles = [e for e in events if e.kind == "profile" and e.operation != "delete" and e.profile_text]
        scores = model.score([e.profile_text for e in profiles]) if profiles else []
        out.append((posts, events, {id(e): p for e, p in zip(profiles, scores, strict=True)}))
    return out


def _batches(raw: list[bytes]) -> list[tuple[list[Post], list[AccountEvent]]]:
    out = []
    for start in range(0, len(raw), BATCH):
        posts, events = [], []
        for line in raw[start : start + BATCH]:
            result = normalize(line)
            if result.post is not None:
                posts.append(result.post)
                continue
            account = normalize_account_event(decode_event(line))
            if account.event is not None:
                events.append(account.event)
        out.append((posts, events))
    return out


def _run(batches: list[Batch], store: StateStore) -> tuple[float, dict[str, str], dict[str, str]]:
    """CPU seconds, the worst action each account reached, and each post's account action."""
    policy = load_default_policy()
    tracker = AccountTracker(policy.spec, store, policy.version)
    worst: dict[str, str] = {}
    post_account_action: dict[str, str] = {}
    rank = {"none": 0, "review": 1, "label": 2}
    cpu = 0.0
    for posts, events, profile_p in batches:
        started = time.process_time()
        verdicts = tracker.observe(posts, events, profile_p)
        cpu += time.process_time() - started
        by_did = {v.did: v.action for v in verdicts}
        for did, action in by_did.items():
            if rank[action] > rank[worst.get(did, "none")]:
                worst[did] = action
        for post in posts:
            post_account_action[post.uri] = by_did.get(post.did, "none")
    return cpu, worst, post_account_action


# Run in a child process with another revision's package first on the path: time its tracker
# on the pickled batches (posts and events only: an older tracker takes no profile scores).
_BASELINE_CHILD = """
import pickle, statistics, sys, tempfile, time, json
from pathlib import Path
from fraud_pipeline.accounts.tracker import AccountTracker
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore
batches, runs = pickle.load(open(sys.argv[1], "rb"))
policy = load_default_policy()
def run(store):
    tracker = AccountTracker(policy.spec, store, policy.version)
    cpu = 0.0
    for posts, events in batches:
        started = time.process_time()
        tracker.observe(posts, events)
        cpu += time.process_time() - started
    return cpu
sqlite, memory = [], []
for _ in range(runs):
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStateStore(Path(tmp) / "state.db")
        sqlite.append(run(store))
        store.close()
    memory.append(run(MemoryStateStore()))
print(json.dumps({"sqlite": statistics.median(sqlite), "memory": statistics.median(memory)}))
"""


def _baseline_cpu(
    rev: str, batches: list[tuple[list[Post], list[AccountEvent]]], runs: int
) -> dict[str, float]:
    """Median CPU seconds of the tracker at `rev` on these batches (SQLite and memory stores)."""
    with tempfile.TemporaryDirectory() as tmp:
        extract_revision(rev, tmp)
        pickled = Path(tmp) / "batches.pickle"
        pickled.write_bytes(pickle.dumps((batches, runs)))
        return dict(run_in_revision(tmp, _BASELINE_CHILD, str(pickled)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--honest", type=int, default=2_000)
    parser.add_argument("--scams-per-kind", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-post-scorer", action="store_true", help="skip the text-model comparison")
    parser.add_argument("--baseline", metavar="REV", help="also time the tracker at this git revision")
    args = parser.parse_args()

    capture = synth_accounts(honest=args.honest, scams_per_kind=args.scams_per_kind)
    plain = _batches(capture.events)
    batches = _profile_scores(plain)
    n_posts = sum(len(p) for p, _ in plain)
    n_account_events = sum(len(e) for _, e in plain)
    kinds = Counter(e.kind for _, events in plain for e in events)

    sqlite_cpu, memory_cpu = [], []
    worst: dict[str, str] = {}
    post_action: dict[str, str] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStateStore(Path(tmp) / "state.db")
            cpu, worst, post_action = _run(batches, store)
            store.close()
        sqlite_cpu.append(cpu)
        memory_cpu.append(_run(batches, MemoryStateStore())[0])

    labels = capture.labels
    recall = {}
    for kind in SCAM_KINDS:
        dids = [d for d, k in labels.items() if k == kind]
        recall[kind] = round(sum(worst.get(d, "none") != "none" for d in dids) / len(dids), 4)
    scams = [d for d, k in labels.items() if k]
    honest = [d for d, k in labels.items() if not k]
    flagged_honest = [d for d in honest if worst.get(d, "none") != "none"]
    honest_kinds = Counter(d[8:14] for d in flagged_honest)

    scam_posts = [p for posts, _ in plain for p in posts if labels.get(p.did)]
    result: dict[str, object] = {
        "benchmark": "account_verdicts",
        "accounts": len(labels),
        "scam_accounts": len(scams),
        "honest_accounts": len(honest),
        "events": n_posts + n_account_events,
        "posts": n_posts,
        "account_events": dict(kinds),
        "scam_account_recall": round(sum(worst.get(d, "none") != "none" for d in scams) / len(scams), 4),
        "recall_by_kind": recall,
        "scam_accounts_labelled": sum(worst.get(d) == "label" for d in scams),
        "honest_flagged": len(flagged_honest),
        "honest_flagged_rate": round(len(flagged_honest) / len(honest), 5),
        "honest_flagged_by_kind": dict(honest_kinds),
        "events_per_cpu_s_sqlite_median": round((n_posts + n_account_events) / statistics.median(sqlite_cpu)),
        "events_per_cpu_s_memory_median": round((n_posts + n_account_events) / statistics.median(memory_cpu)),
        "runs": args.runs,
        "scam_replies": len(scam_posts),
        "scam_replies_account_flagged": sum(post_action.get(p.uri, "none") != "none" for p in scam_posts),
    }
    if args.baseline:
        before = _baseline_cpu(args.baseline, plain, args.runs)
        events = n_posts + n_account_events
        result["baseline"] = {
            "revision": args.baseline,
            "events_per_cpu_s_sqlite_median": round(events / before["sqlite"]),
            "events_per_cpu_s_memory_median": round(events / before["memory"]),
        }
    if not args.no_post_scorer:
        result.update(_post_scorer_beside(plain, scam_posts, post_action))
    print(json.dumps(result, indent=2))


def _post_scorer_beside(
    batches: list[tuple[list[Post], list[AccountEvent]]], scam_posts: list[Post], post_action: dict[str, str]
) -> dict[str, object]:
    """Every post through the post-only scorer (account verdicts switched off) and through the
    pipeline's scorer (posts and account events together), in the same time-ordered batches."""
    from fraud_pipeline.scoring.handler import build_post_scorer
    from fraud_pipeline.settings import load_settings

    settings = load_settings(environ={})
    post_only = build_post_scorer(settings)
    post_only.account_tracker = lambda active: None  # type: ignore[method-assign]
    pipeline = build_post_scorer(settings)
    only: dict[str, tuple[bool, list[str]]] = {}
    both: dict[str, tuple[bool, list[str]]] = {}
    flagged_how: Counter[str] = Counter()  # honest posts the pipeline flags: account kind, action
    text_p: dict[str, float | None] = {}  # the text model's score of each flagged honest post
    account_records: Counter[str] = Counter()  # the pipeline's account records, by action
    scam_uris = {p.uri for p in scam_posts}
    for posts, events in batches:
        for t in post_only.score(posts)[0]:
            if t.operation not in ("verdict", "account"):
                only[t.uri] = (t.is_fraud, t.rule_hits)
        for t in pipeline.score(posts, events)[0]:
            if t.operation == "account":
                account_records[t.action] += 1
            elif t.operation != "verdict":
                both[t.uri] = (t.is_fraud, t.rule_hits)
                if t.is_fraud and t.uri not in scam_uris:
                    flagged_how[f"{t.did[8:14]} {t.action}"] += 1  # did:plc:<kind>...: synth's naming
                    text_p[t.uri] = t.fraud_text_likelihood
    honest_uris = [u for u in both if u not in scam_uris]
    scores = sorted(p for p in text_p.values() if p is not None)

    def honest_rules(verdicts: dict[str, tuple[bool, list[str]]]) -> dict[str, int]:
        hits = Counter(r for u in honest_uris if verdicts[u][0] for r in (verdicts[u][1] or ["model"]))
        return dict(hits.most_common())

    return {
        "post_only_scam_replies_flagged": sum(only[u][0] for u in scam_uris),
        "pipeline_scam_replies_flagged": sum(both[u][0] for u in scam_uris),
        "honest_posts": len(honest_uris),
        "post_only_honest_posts_flagged": sum(only[u][0] for u in honest_uris),
        "pipeline_honest_posts_flagged": sum(both[u][0] for u in honest_uris),
        "post_only_rules_on_honest_flagged": honest_rules(only),
        "pipeline_rules_on_honest_flagged": honest_rules(both),
        "pipeline_account_records_by_action": dict(account_records),
        # Whose honest posts are flagged and how (the account kind in the synthesized DID, the
        # post's action), and the text model's scores of them: a review-band model score on a
        # template reply, or something the account layer did.
        "pipeline_honest_flagged_by_kind_action": dict(flagged_how.most_common()),
        "pipeline_honest_flagged_text_p": {
            "min": round(scores[0], 4) if scores else None,
            "max": round(scores[-1], 4) if scores else None,
            "distinct": len({round(p, 4) for p in scores}),
        },
    }


if __name__ == "__main__":
    main()
