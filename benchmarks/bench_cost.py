"""What the AWS deployment costs per month at Bluesky's post rate, from the infra settings.

Reads the sizing of each environment from `infra/live/<env>/env.hcl` and the module defaults
the environments do not override (`infra/modules/*/variables.tf`, the Dagster task sizes), so
the table follows the infrastructure when it changes. Prices and traffic are inputs, in one
place (`PRICES`, `TRAFFIC` below), each with its source and date. Prints one JSON object;
`--markdown` prints the table used in docs/cost.md instead.

Account events (`ingest --accounts`: follows, profiles, identity and account status) are
priced from a measurement, not a guess: `measure_account_events` runs the account tracker
over a synthesized hour (`accounts.synth`) in batches the size the prod settings give a
scoring Lambda, on a state store that meters every call as DynamoDB bills it (write and read
request units by item size, transactions at twice the units, round trips), once with the
posts alone and once with the account events too; the difference per account event, times
the account events per post in `TRAFFIC`, is the extra bill (`accounts` in the output, and
the `prod_with_accounts` scenario). The measurement takes about 100 s and changes only when
the tracker does, so it is kept in `account_event_cost.json` beside this script, with the
revision it was taken on; the table reads that file, and `--measure` takes it again (and
writes it). `tests/test_cost.py` checks the docs table against the file, not a new run.

    python benchmarks/bench_cost.py [--markdown]   # from the committed measurement (instant)
    python benchmarks/bench_cost.py --measure      # measure the tracker again, write the file
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import operator
import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hcl2
import orjson

ROOT = Path(__file__).resolve().parents[1]
HOURS = 730.0  # hours in an average month
GB = 1024**3

# -- inputs ----------------------------------------------------------------------------------
# AWS list prices, us-east-1, on-demand, USD. Source: the AWS pricing pages of each service
# (aws.amazon.com/<service>/pricing), as known on 2026-11-30; this machine cannot reach them, so
# check them before budgeting. Change a price here and the table follows.
PRICES: dict[str, float] = {
    "kinesis_shard_hour": 0.015,  # provisioned shard-hour
    "kinesis_put_unit_million": 0.014,  # provisioned PUT payload units (25 KB each)
    "kinesis_on_demand_stream_hour": 0.04,
    "kinesis_on_demand_ingest_gb": 0.08,
    "kinesis_on_demand_retrieve_gb": 0.04,
    "lambda_gb_second": 0.0000166667,  # x86
    "lambda_request_million": 0.20,
    "firehose_ingest_gb": 0.029,  # records rounded up to 5 KB
    "firehose_format_conversion_gb": 0.018,  # JSON -> Parquet
    "s3_gb_month": 0.023,
    "s3_put_thousand": 0.005,
    "dynamodb_write_million": 0.625,  # on-demand write request units (after the Nov 2024 cut)
    "dynamodb_read_million": 0.125,
    "cloudwatch_metric_month": 0.30,  # custom metric (first 10k)
    "cloudwatch_logs_ingest_gb": 0.50,  # EMF lines are log ingestion
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
    "nat_gateway_hour": 0.045,
    "nat_gateway_gb": 0.045,
    "rds_db.t4g.micro_hour": 0.016,
    "rds_db.t4g.small_hour": 0.032,
    "sagemaker_ml.t2.medium_hour": 0.056,
    "sagemaker_ml.m5.large_hour": 0.115,
    "kms_key_month": 1.0,
}
# Bluesky's post rate. Source: A. Houlier, "Building real-time Bluesky analytics: ingesting 2.2M
# posts/day from the firehose", dev.to, 2026-03-24: about 2.2 million posts a day, 130,000+ posts
# in peak hours. The burst factor is ours: surges (the Nov 2024 migration, Brazil's X ban) ran
# several times the usual rate for days; the stream must absorb them without losing posts.
TRAFFIC: dict[str, float] = {
    "posts_per_day": 2_200_000,
    "peak_hour_posts": 130_000,
    "burst_factor": 5.0,  # design peak = peak hour x this
    "deletes_per_post": 0.1,  # delete events travel the same path (assumption)
    "untagged_record_kb": 1.5,  # normalized post JSON (assumption)
    "tagged_record_kb": 2.5,  # + scores, verdict, reasons, versions (assumption)
    "parquet_bytes_per_record": 450,  # zstd Parquet in the lake (compacted)
    "lake_retention_months": 12,
    "state_writes_per_post": 6,  # behaviour counters and member sets (DynamoDB)
    "state_reads_per_post": 6,
    "custom_metrics": 40,  # seed + pipeline metrics x dimensions
    # Account events per post with `ingest --accounts`. The issue (#16) states follows are
    # several times more numerous than posts; no published Jetstream rate per collection was
    # reachable from here, so 4 is an assumption (the bundled account hour has 3.4), and the
    # output prices 10 beside it. Profile updates, identity and account events are rarer.
    "follows_per_post": 4.0,
    "follows_per_post_high": 10.0,
    "other_account_events_per_post": 0.2,  # profiles, identity, account status (assumption)
    "dynamodb_round_trip_ms": 8.0,  # one DynamoDB call from Lambda, in the same region (assumption)
}
# The original design the issue compares with: 120 provisioned shards (read here as on each
# stream) and the two SageMaker endpoints always on.
ORIGINAL = {"shard_count": 120, "stream_mode": "PROVISIONED", "endpoint_instance_type": "ml.m5.large"}
DAGSTER_SIDECAR_TASKS = 2  # webserver + daemon, each 0.5 vCPU / 1 GB (infra/modules/dagster/main.tf)


# -- infra settings ----------------------------------------------------------------------------
def _hcl(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return hcl2.load(handle, serialization_options=hcl2.SerializationOptions(strip_string_quotes=True))


def _variable_defaults(module: str) -> dict[str, Any]:
    parsed = _hcl(ROOT / "infra" / "modules" / module / "variables.tf")
    return {name: body.get("default") for block in parsed.get("variable", []) for name, body in block.items()}


def infra_settings(env: str) -> dict[str, Any]:
    """The sizing that decides the bill, from env.hcl and the module defaults."""
    env_locals: dict[str, Any] = {}
    for block in _hcl(ROOT / "infra" / "live" / env / "env.hcl").get("locals", []):
        env_locals.update(block)
    lam, firehose = _variable_defaults("lambda"), _variable_defaults("kinesis_firehose")
    dagster, service = _variable_defaults("dagster"), _variable_defaults("ecs_service")
    return {
        "stream_mode": env_locals["stream_mode"],
        "shard_count": int(env_locals["shard_count"]),
        "stream_retention_hours": int(env_locals["stream_retention_hours"]),
        "lambda_memory_mb": int(env_locals["lambda_memory_mb"]),
        "lambda_batch_size": int(lam["batch_size"]),
        "lambda_batching_window_s": float(lam["batching_window_s"]),
        "parallelization_factor": int(env_locals["parallelization_factor"]),
        "endpoint_instance_type": env_locals["endpoint_instance_type"],
        "endpoint_min_instances": int(env_locals["endpoint_min_instances"]),
        "db_instance_class": env_locals["db_instance_class"],
        "db_multi_az": bool(env_locals["db_multi_az"]),
        "single_nat_gateway": bool(env_locals["single_nat_gateway"]),
        "az_count": len(env_locals["availability_zones"]),
        "firehose_buffer_mb": int(firehose["buffering_size_mb"]),
        "firehose_buffer_s": int(firehose["buffering_interval_s"]),
        "dagster_code_vcpu": int(dagster["code_cpu"]) / 1024,
        "dagster_code_gb": int(dagster["code_memory_mb"]) / 1024,
        "ingest_vcpu": int(service["cpu"]) / 1024,
        "ingest_gb": int(service["memory_mb"]) / 1024,
    }


# -- account events, measured ------------------------------------------------------------------
try:  # the windowed counts' shared delta directory (absent from trackers before accounts/windows.py)
    from fraud_pipeline.accounts.windows import DIRECTORY_BUCKET_US, DIRECTORY_PREFIX
except ImportError:  # measuring an older revision (--baseline style): nothing is a directory
    DIRECTORY_PREFIX, DIRECTORY_BUCKET_US = "acct:listed#", 60_000_000
try:  # a minute's directory in slots, one per writer (accounts/windows.py)
    from fraud_pipeline.accounts.windows import DIRECTORY_SLOTS, directory_key
except ImportError:  # before the slots: one directory set per minute, shared by every writer
    DIRECTORY_SLOTS = 1

    def directory_key(minute: int, slot: int) -> str:
        return f"{DIRECTORY_PREFIX}{minute}"


class MeteredState:
    """A state store that bills each call as DynamoDB on demand would (the AWS adapter's calls,
    fraud_pipeline/state/dynamodb.py): member sets are one item each, written by
    TransactWriteItems (2 write units per KB of the item after the write, per update of at most
    MEMBERS_PER_UPDATE members) and read by strongly consistent BatchGetItem (1 read unit per
    4 KB, 1 for an absent item); checkpoints and cache entries by BatchWriteItem / BatchGetItem
    (1 unit per KB / 4 KB; cache reads are not strongly consistent: half); counters by
    UpdateItem. Round trips as the adapter pages them. The delta directory's reads (the
    windowed counts' shared per-minute sets, accounts/windows.py) are counted apart too.
    The counting is delegated to the in-memory store, so the tracker behaves as on any store."""

    def __init__(self) -> None:
        from fraud_pipeline.state.memory import MemoryStateStore

        self.inner = MemoryStateStore()
        self.item_bytes: dict[str, int] = {}  # set / checkpoint key -> item size
        self.members: set[tuple[str, str]] = set()
        self.wru = 0.0
        self.rru = 0.0
        self.calls = 0
        self.syncs = 0  # batches that read the delta directory of the window
        self.directory_rru = 0.0

    def snapshot(self) -> dict[str, float]:
        return {
            "wru": self.wru,
            "rru": self.rru,
            "calls": self.calls,
            "syncs": self.syncs,
            "directory_rru": self.directory_rru,
        }

    @staticmethod
    def _units(size: int, unit: int) -> int:
        return max(1, math.ceil(size / unit))

    def add_members(self, sightings: Any, ttl_s: int) -> None:
        from fraud_pipeline.state.dynamodb import MEMBERS_PER_UPDATE, TRANSACT_ITEMS

        by_key: dict[str, list[Any]] = {}
        for sighting in sightings:
            by_key.setdefault(sighting.key, []).append(sighting)
        updates = 0
        for key, group in by_key.items():
            size = self.item_bytes.get(key, len("set#" + key) + len("expires_at") + 11)
            for sighting in group:
                if (key, sighting.member) not in self.members:
                    self.members.add((key, sighting.member))
                    size += len(("m:" + sighting.member).encode()) + len(sighting.value.encode())
            self.item_bytes[key] = size
            chunks = math.ceil(len(group) / MEMBERS_PER_UPDATE)
            updates += chunks
            self.wru += chunks * 2 * self._units(size, 1024)
        self.calls += math.ceil(updates / TRANSACT_ITEMS)
        self.inner.add_members(sightings, ttl_s)

    def _read(self, keys: Any, per_unit: float = 1.0) -> float:
        from fraud_pipeline.state.dynamodb import BATCH_GET_ITEMS

        unique = list(dict.fromkeys(keys))
        units = per_unit * sum(self._units(self.item_bytes.get(k, 0), 4096) for k in unique)
        self.rru += units
        self.calls += math.ceil(len(unique) / BATCH_GET_ITEMS)
        return units

    def get_members(self, keys: Any, ttl_s: int | None = None) -> dict[str, dict[str, str]]:
        keys = list(keys)
        directory = [k for k in keys if k.startswith(DIRECTORY_PREFIX)]
        if directory:  # the delta directory's minutes new since a tracker's last read (accounts/windows.py)
            self.syncs += 1
            self.directory_rru += self._read(directory)
            keys = [k for k in keys if not k.startswith(DIRECTORY_PREFIX)]
        self._read(keys)
        return self.inner.get_members([*keys, *directory], ttl_s)

    def put_cached(self, values: Mapping[str, str], ttl_s: int) -> None:
        from fraud_pipeline.state.dynamodb import BATCH_WRITE_ITEMS

        for key, value in values.items():
            size = len("cache#" + key) + len(value) + len("expires_at") + 11
            self.item_bytes["cache#" + key] = size
            self.wru += self._units(size, 1024)
        self.calls += math.ceil(len(values) / BATCH_WRITE_ITEMS)
        self.inner.put_cached(values, ttl_s)

    def get_cached(self, keys: Any) -> dict[str, str]:
        keys = list(keys)
        self._read(["cache#" + k for k in keys], per_unit=0.5)  # not strongly consistent: half
        return self.inner.get_cached(keys)

    def count_members(self, groups: Any) -> dict[str, int]:
        self._read(k for set_keys, _ in groups.values() for k in set_keys)  # read, then counted
        return self.inner.count_members(groups)

    def get_checkpoints(self, keys: Any) -> dict[str, str]:
        self._read(["checkpoint#" + k for k in keys])
        return self.inner.get_checkpoints(keys)

    def put_checkpoints(self, values: dict[str, str]) -> None:
        from fraud_pipeline.state.dynamodb import BATCH_WRITE_ITEMS

        for key, value in values.items():
            size = len("checkpoint#" + key) + len(value) + 5
            self.item_bytes["checkpoint#" + key] = size
            self.wru += self._units(size, 1024)
        self.calls += math.ceil(len(values) / BATCH_WRITE_ITEMS)
        self.inner.put_checkpoints(values)

    def increment(self, key: str, by: int = 1, ttl_s: int | None = None) -> int:
        self.wru += 1
        self.calls += 1
        return self.inner.increment(key, by, ttl_s)

    def __getattr__(self, name: str) -> Any:  # the rest of the port, unmetered (not on this path)
        return getattr(self.inner, name)


def measure_account_events(
    events_per_s: float, lanes: int, batch_events: int, minutes: int = 4
) -> dict[str, float]:
    """The account tracker's DynamoDB units, round trips and CPU per account event, measured at
    the production event rate: a synthesized account stream (`accounts.synth`) sized to
    `events_per_s`, its first `minutes` minutes scored by `lanes` trackers sharing one metered
    store (one per concurrent Lambda batch: shards x parallelization factor; each event goes
    to the lane of its account, as Kinesis partitions by DID), `batch_events` per lane and
    round. The same rounds run with and without their account events; the figures are the
    difference in the last whole minute, per account event.

    Deltas are listed by the minute they are written (accounts/windows.py), read by a warm
    tracker from its last read on: the simulation runs the trackers on a clock of its own, the
    round's event time, so the directory minutes hold what a real minute would."""
    import time
    import zlib

    from fraud_pipeline.accounts.events import normalize_account_event
    from fraud_pipeline.accounts.synth import synth_accounts
    from fraud_pipeline.accounts.tracker import AccountTracker
    from fraud_pipeline.ingest.normalize import decode_event, normalize
    from fraud_pipeline.policy import load_default_policy

    start_us = 1_764_000_000_000_000
    # The hour's events: ordinary people scale with `honest`, the rest (desks, friendly
    # repliers, scam accounts) is fixed; size `honest` to the rate.
    sample = synth_accounts(honest=200, start_us=start_us)
    dids = [orjson.loads(line) for line in sample.events]
    hour = [e["did"] for e in dids if e["time_us"] >= start_us]
    per_person = sum(d.startswith("did:plc:person") for d in hour) / 200
    fixed = sum(not d.startswith("did:plc:person") for d in hour)
    honest = max(200, round((events_per_s * 3600 - fixed) / per_person))
    capture = synth_accounts(honest=honest, start_us=start_us)
    before: list[Any] = []  # first sightings weeks ago (aged accounts): loaded first, unmetered
    stream: list[tuple[Any, bool]] = []  # (post or account event, is an account event)
    end_us = start_us + minutes * 60_000_000
    account_bytes = follows = 0
    for line in capture.events:
        result = normalize(line)
        item: Any = result.post
        if item is None:
            item = normalize_account_event(decode_event(line)).event
            if item is None:
                continue
        if item.time_us >= end_us:
            break
        account = result.post is None
        if item.time_us < start_us:
            before.append(item)
            continue
        stream.append((item, account))
        if account:
            account_bytes += len(item.to_json())
            follows += item.kind == "follow"
    policy = load_default_policy()
    per_round = lanes * batch_events
    last = minutes - 1  # the last whole minute simulated
    runs: dict[str, dict[str, float]] = {}
    for name, with_accounts in (("posts_only", False), ("with_accounts", True)):
        store = MeteredState()
        clock = [start_us / 1_000_000]  # the simulation's clock: the round's event time (s)
        now = functools.partial(operator.getitem, clock, 0)
        trackers = [
            AccountTracker(policy.spec, store, policy.version, now)  # type: ignore[arg-type]
            for _ in range(lanes)
        ]
        slots = random.Random(0)  # each lane's directory slot, drawn as a Lambda container draws it
        for tracker in trackers:
            if hasattr(tracker.windows, "slot"):
                tracker.windows.slot = slots.randrange(DIRECTORY_SLOTS)
        trackers[0].observe([], before)
        at_minute: dict[int, dict[str, float]] = {}
        counted = {"events": 0.0, "account_events": 0.0, "records": 0.0, "cpu_s": 0.0}
        for first in range(0, len(stream), per_round):
            chunk = stream[first : first + per_round]
            minute = (chunk[0][0].time_us - start_us) // 60_000_000
            at_minute.setdefault(minute, store.snapshot())
            clock[0] = chunk[0][0].time_us / 1_000_000
            batches: list[tuple[list[Any], list[Any]]] = [([], []) for _ in range(lanes)]
            for item, account in chunk:
                if account and not with_accounts:
                    continue
                posts, events = batches[zlib.crc32(item.did.encode()) % lanes]
                (events if account else posts).append(item)
            started = time.process_time()
            records = sum(
                sum(v.changed for v in trackers[k].observe(posts, events))
                for k, (posts, events) in enumerate(batches)
                if posts or events
            )
            if minute == last:
                counted["cpu_s"] += time.process_time() - started
                counted["records"] += records
                counted["events"] += len(chunk)
                counted["account_events"] += sum(account for _, account in chunk)
        at_minute.setdefault(last + 1, store.snapshot())
        lo, hi = at_minute[last], at_minute[last + 1]
        used = {k: hi[k] - lo[k] for k in hi}
        # A whole minute's directory sets (read by a warm tracker while they are new, and slack
        # after), and the largest of them: what one listing rewrites.
        minute_sets = [
            store.item_bytes.get(
                directory_key((start_us + last * 60_000_000) // DIRECTORY_BUCKET_US, slot), 0
            )
            for slot in range(DIRECTORY_SLOTS)
        ]
        runs[name] = {**used, **counted, "rru_full_window": used["rru"]}
        runs[name]["directory_minute_bytes"] = sum(minute_sets)
        runs[name]["directory_item_bytes_max"] = max(minute_sets)
    after, base = runs["with_accounts"], runs["posts_only"]
    n = after["account_events"]

    def per_event(key: str, digits: int = 3) -> float:
        return round((after[key] - base[key]) / n, digits)

    posts = base["events"] - base["account_events"]
    accounts_seen = max(1, sum(a for _, a in stream))
    return {
        "events_per_s": round(len(stream) / (minutes * 60), 1),
        "lanes": lanes,
        "batch_events": batch_events,
        "minutes": minutes,
        "account_events": int(n),
        "follow_share": round(follows / accounts_seen, 3),
        "account_event_bytes": round(account_bytes / accounts_seen, 1),
        "wru_per_event": per_event("wru"),
        "rru_per_event": per_event("rru_full_window"),
        "rru_per_event_as_simulated": per_event("rru"),
        "round_trips_per_event": per_event("calls", 4),
        "cpu_ms_per_event": round(1000 * (after["cpu_s"] - base["cpu_s"]) / n, 4),
        "account_records_per_event": per_event("records", 5),
        "directory_minute_bytes": int(after["directory_minute_bytes"]),
        "directory_item_bytes_max": int(after["directory_item_bytes_max"]),
        # The tracker on the posts alone, per post: compare with TRAFFIC's state_*_per_post.
        "posts_only_wru_per_post": round(base["wru"] / max(1, posts), 3),
        "posts_only_rru_per_post": round(base["rru_full_window"] / max(1, posts), 3),
    }


# -- the model ---------------------------------------------------------------------------------
def rates() -> dict[str, float]:
    average = TRAFFIC["posts_per_day"] / 86_400
    peak = TRAFFIC["peak_hour_posts"] / 3600
    return {
        "average_posts_per_s": average,
        "peak_hour_posts_per_s": peak,
        "design_peak_posts_per_s": peak * TRAFFIC["burst_factor"],
        "average_events_per_s": average * (1 + TRAFFIC["deletes_per_post"]),
    }


def shards_needed(events_per_s: float, record_kb: float) -> int:
    """Kinesis write limits per shard: 1,000 records/s and 1 MB/s; x2 headroom, and at least 2
    shards so one hot partition key (a campaign's author) cannot take the whole stream."""
    return max(2, math.ceil(2 * max(events_per_s / 1000, events_per_s * record_kb / 1024)))


def account_events_per_s(follows_per_post: float) -> float:
    return rates()["average_posts_per_s"] * (follows_per_post + TRAFFIC["other_account_events_per_post"])


def lambda_batch(s: dict[str, Any], events_per_s: float) -> float:
    """Records per invocation: a batch fills to batch_size or waits the window, per shard and
    parallel batch."""
    shards = s["shard_count"] * s["parallelization_factor"]
    return max(1.0, min(s["lambda_batch_size"], events_per_s * s["lambda_batching_window_s"] / shards))


def monthly(
    s: dict[str, Any],
    endpoints_always_on: bool = True,
    accounts: dict[str, float] | None = None,
    follows_per_post: float = 0.0,
) -> dict[str, float]:
    """USD per month per component for settings `s` at the average rate; with `accounts` (the
    measured cost per account event, `measure_account_events`) the account events of
    `follows_per_post` ride along: on the untagged stream, in the Lambda, in DynamoDB."""
    r = rates()
    events_month = r["average_events_per_s"] * HOURS * 3600
    untagged_gb = events_month * TRAFFIC["untagged_record_kb"] * 1024 / GB
    tagged_gb = events_month * TRAFFIC["tagged_record_kb"] * 1024 / GB
    account_month = account_gb = account_records = 0.0
    if accounts is not None:
        account_month = account_events_per_s(follows_per_post) * HOURS * 3600
        account_gb = account_month * accounts["account_event_bytes"] / GB
        account_records = account_month * accounts["account_records_per_event"]  # on the tagged stream
    p = PRICES
    cost: dict[str, float] = {}
    if s["stream_mode"] == "PROVISIONED":
        cost["kinesis"] = 2 * s["shard_count"] * HOURS * p["kinesis_shard_hour"] + (
            (2 * events_month + account_month + account_records) / 1e6 * p["kinesis_put_unit_million"]
        )
    else:  # untagged read once (Lambda), tagged twice (Firehose, labels worker)
        tagged_gb += account_records * TRAFFIC["tagged_record_kb"] * 1024 / GB
        cost["kinesis"] = (
            2 * HOURS * p["kinesis_on_demand_stream_hour"]
            + (untagged_gb + account_gb + tagged_gb) * p["kinesis_on_demand_ingest_gb"]
            + (untagged_gb + account_gb + 2 * tagged_gb) * p["kinesis_on_demand_retrieve_gb"]
        )
    # Lambda: one invocation per batch; a batch fills to batch_size or waits the window per shard.
    all_events_month = events_month + account_month
    batch = lambda_batch(s, all_events_month / (HOURS * 3600))
    invocations = all_events_month / batch
    seconds = invocations * 0.05 + events_month * 0.0008  # 50 ms overhead + 0.8 ms per post
    if accounts is not None:  # the tracker's CPU and its extra DynamoDB round trips per event
        per_event_ms = (
            accounts["cpu_ms_per_event"]
            + accounts["round_trips_per_event"] * TRAFFIC["dynamodb_round_trip_ms"]
        )
        seconds += account_month * per_event_ms / 1000
    cost["lambda"] = seconds * s["lambda_memory_mb"] / 1024 * p["lambda_gb_second"] + (
        invocations / 1e6 * p["lambda_request_million"]
    )
    firehose_gb = events_month * max(5.0, TRAFFIC["tagged_record_kb"]) * 1024 / GB
    firehose_gb += account_records * max(5.0, TRAFFIC["tagged_record_kb"]) * 1024 / GB
    cost["firehose"] = firehose_gb * (p["firehose_ingest_gb"] + p["firehose_format_conversion_gb"])
    lake_gb = events_month * TRAFFIC["parquet_bytes_per_record"] / GB
    files = HOURS * 3600 / s["firehose_buffer_s"] * 2  # raw files + compaction rewrites
    cost["s3"] = (
        lake_gb * TRAFFIC["lake_retention_months"] * p["s3_gb_month"] + files / 1000 * p["s3_put_thousand"]
    )
    cost["dynamodb"] = (
        events_month * TRAFFIC["state_writes_per_post"] / 1e6 * p["dynamodb_write_million"]
        + events_month * TRAFFIC["state_reads_per_post"] / 1e6 * p["dynamodb_read_million"]
    )
    if accounts is not None:
        cost["dynamodb"] += account_month * (
            accounts["wru_per_event"] / 1e6 * p["dynamodb_write_million"]
            + accounts["rru_per_event"] / 1e6 * p["dynamodb_read_million"]
        )
    emf_gb = invocations * 2048 / GB  # one EMF line per batch
    cost["cloudwatch"] = (
        TRAFFIC["custom_metrics"] * p["cloudwatch_metric_month"] + emf_gb * p["cloudwatch_logs_ingest_gb"]
    )
    instance = p[f"sagemaker_{s['endpoint_instance_type']}_hour"]
    endpoints = 2 * s["endpoint_min_instances"] if endpoints_always_on else 0
    cost["sagemaker"] = endpoints * HOURS * instance
    vcpu = s["ingest_vcpu"] + s["dagster_code_vcpu"] + DAGSTER_SIDECAR_TASKS * 0.5
    gb = s["ingest_gb"] + s["dagster_code_gb"] + DAGSTER_SIDECAR_TASKS * 1.0
    cost["fargate"] = HOURS * (vcpu * p["fargate_vcpu_hour"] + gb * p["fargate_gb_hour"])
    db_hour = p[f"rds_{s['db_instance_class']}_hour"] * (2 if s["db_multi_az"] else 1)
    cost["rds"] = HOURS * db_hour
    nat = 1 if s["single_nat_gateway"] else s["az_count"]
    cost["nat"] = nat * HOURS * p["nat_gateway_hour"] + untagged_gb * 0.1 * p["nat_gateway_gb"]
    cost["kms"] = p["kms_key_month"]
    return {k: round(v, 2) for k, v in cost.items()}


def scenarios(accounts: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    prod, dev = infra_settings("prod"), infra_settings("dev")
    original = {**prod, **ORIGINAL}
    r = rates()
    needed = shards_needed(
        r["design_peak_posts_per_s"] * (1 + TRAFFIC["deletes_per_post"]), TRAFFIC["tagged_record_kb"]
    )
    cheapest = {
        **prod,
        "stream_mode": "PROVISIONED",
        "shard_count": needed,
        "db_instance_class": "db.t4g.micro",
        "db_multi_az": False,
        "single_nat_gateway": True,
    }
    found: dict[str, dict[str, Any]] = {
        "original_design": {"settings": original, "cost": monthly(original)},
        "prod": {"settings": prod, "cost": monthly(prod)},
        "dev": {"settings": dev, "cost": monthly(dev)},
        "cheapest_safe": {
            "settings": {**cheapest, "text_and_media_models": "in the Lambda (no endpoints)"},
            "cost": monthly(cheapest, endpoints_always_on=False),
        },
    }
    if accounts is not None:
        follows = TRAFFIC["follows_per_post"]
        found["prod_with_accounts"] = {
            "settings": {**prod, "ingest_accounts": True, "follows_per_post": follows},
            "cost": monthly(prod, accounts=accounts, follows_per_post=follows),
        }
        found["cheapest_safe_with_accounts"] = {
            "settings": {
                **found["cheapest_safe"]["settings"],
                "ingest_accounts": True,
                "follows_per_post": follows,
            },
            "cost": monthly(cheapest, endpoints_always_on=False, accounts=accounts, follows_per_post=follows),
        }
    return found


def accounts_summary(accounts: dict[str, float]) -> dict[str, Any]:
    """What `ingest --accounts` adds to prod, at the assumed and at a high follow rate, and
    whether prod's shards still carry the design peak."""
    prod = infra_settings("prod")
    base = sum(monthly(prod).values())
    r = rates()
    out: dict[str, Any] = {"measured": accounts}
    for name, follows in (
        ("assumed", TRAFFIC["follows_per_post"]),
        ("high", TRAFFIC["follows_per_post_high"]),
    ):
        with_accounts = monthly(prod, accounts=accounts, follows_per_post=follows)
        extra = {k: round(v - monthly(prod)[k], 2) for k, v in with_accounts.items()}
        peak = (r["design_peak_posts_per_s"] * (1 + TRAFFIC["deletes_per_post"])) + account_events_per_s(
            follows
        ) * r["design_peak_posts_per_s"] / r["average_posts_per_s"]
        out[name] = {
            "follows_per_post": follows,
            "account_events_per_s": round(account_events_per_s(follows), 1),
            "extra_usd_month": {k: v for k, v in extra.items() if v},
            "extra_total_usd_month": round(sum(extra.values()), 2),
            "extra_share_of_prod": round(sum(extra.values()) / base, 3),
            "design_peak_events_per_s": round(peak),
            "shards_needed": shards_needed(peak, TRAFFIC["untagged_record_kb"]),
            "prod_shards": prod["shard_count"],
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    names = list(result["scenarios"])
    components = list(result["scenarios"]["prod"]["cost"])
    lines = ["| component | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for component in components:
        cells = [f"{result['scenarios'][n]['cost'][component]:,.0f}" for n in names]
        lines.append(f"| {component} | " + " | ".join(cells) + " |")
    totals = [f"**{result['totals'][n]:,.0f}**" for n in names]
    lines.append("| **total USD / month** | " + " | ".join(totals) + " |")
    return "\n".join(lines)


MEASUREMENT = Path(__file__).with_name("account_event_cost.json")


def _revision() -> str:
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def measured_accounts(measure: bool, minutes: int) -> dict[str, Any]:
    """The account-event measurement: taken now (and written to `MEASUREMENT`) with `measure`,
    else the committed one."""
    if not measure:
        if not MEASUREMENT.exists():
            raise SystemExit(f"no {MEASUREMENT.name}: run `python benchmarks/bench_cost.py --measure` first")
        return dict(json.loads(MEASUREMENT.read_text()))
    prod = infra_settings("prod")
    with_accounts_per_s = rates()["average_events_per_s"] + account_events_per_s(TRAFFIC["follows_per_post"])
    accounts: dict[str, Any] = dict(
        measure_account_events(
            with_accounts_per_s,
            prod["shard_count"] * prod["parallelization_factor"],
            round(lambda_batch(prod, with_accounts_per_s)),
            minutes,
        )
    )
    accounts["measured_on"] = _revision()
    MEASUREMENT.write_text(json.dumps(accounts, indent=1, sort_keys=True) + "\n")
    return accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the docs/cost.md table")
    parser.add_argument(
        "--no-accounts", action="store_true", help="leave account events out (no account scenarios)"
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help=f"measure account events again (about 100 s) and write {MEASUREMENT.name}",
    )
    parser.add_argument(
        "--minutes", type=int, default=4, help="minutes of the account stream simulated at prod's rate"
    )
    args = parser.parse_args()
    accounts = None if args.no_accounts else measured_accounts(args.measure, args.minutes)
    found = scenarios(accounts)
    result: dict[str, Any] = {
        "traffic": {k: round(v, 2) for k, v in rates().items()},
        "scenarios": found,
        "totals": {name: round(sum(s["cost"].values()), 2) for name, s in found.items()},
        "prices_as_of": "2026-11-30",
    }
    if accounts is not None:
        result["accounts"] = accounts_summary(accounts)
    if args.markdown:
        print(markdown(result))
    else:
        json.dump(result, sys.stdout, indent=1, default=str)
        print()


if __name__ == "__main__":
    main()
