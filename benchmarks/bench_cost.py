"""What the AWS deployment costs per month at Bluesky's post rate, from the infra settings.

Reads the sizing of each environment from `infra/live/<env>/env.hcl` and the module defaults
the environments do not override (`infra/modules/*/variables.tf`, the Dagster task sizes), so
the table follows the infrastructure when it changes. Prices and traffic are inputs, in one
place (`PRICES`, `TRAFFIC` below), each with its source and date. Prints one JSON object;
`--markdown` prints the table used in docs/cost.md instead.

    python benchmarks/bench_cost.py [--markdown]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import hcl2

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


def monthly(s: dict[str, Any], endpoints_always_on: bool = True) -> dict[str, float]:
    """USD per month per component for settings `s` at the average rate."""
    r = rates()
    events_month = r["average_events_per_s"] * HOURS * 3600
    untagged_gb = events_month * TRAFFIC["untagged_record_kb"] * 1024 / GB
    tagged_gb = events_month * TRAFFIC["tagged_record_kb"] * 1024 / GB
    p = PRICES
    cost: dict[str, float] = {}
    if s["stream_mode"] == "PROVISIONED":
        cost["kinesis"] = 2 * s["shard_count"] * HOURS * p["kinesis_shard_hour"] + (
            2 * events_month / 1e6 * p["kinesis_put_unit_million"]
        )
    else:  # untagged read once (Lambda), tagged twice (Firehose, labels worker)
        cost["kinesis"] = (
            2 * HOURS * p["kinesis_on_demand_stream_hour"]
            + (untagged_gb + tagged_gb) * p["kinesis_on_demand_ingest_gb"]
            + (untagged_gb + 2 * tagged_gb) * p["kinesis_on_demand_retrieve_gb"]
        )
    # Lambda: one invocation per batch; a batch fills to batch_size or waits the window per shard.
    shards = s["shard_count"] * s["parallelization_factor"]
    per_window = r["average_events_per_s"] * s["lambda_batching_window_s"] / shards
    batch = max(1.0, min(s["lambda_batch_size"], per_window))
    invocations = events_month / batch
    seconds = invocations * 0.05 + events_month * 0.0008  # 50 ms overhead + 0.8 ms per post
    cost["lambda"] = seconds * s["lambda_memory_mb"] / 1024 * p["lambda_gb_second"] + (
        invocations / 1e6 * p["lambda_request_million"]
    )
    firehose_gb = events_month * max(5.0, TRAFFIC["tagged_record_kb"]) * 1024 / GB
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


def scenarios() -> dict[str, dict[str, Any]]:
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
    return {
        "original_design": {"settings": original, "cost": monthly(original)},
        "prod": {"settings": prod, "cost": monthly(prod)},
        "dev": {"settings": dev, "cost": monthly(dev)},
        "cheapest_safe": {
            "settings": {**cheapest, "text_and_media_models": "in the Lambda (no endpoints)"},
            "cost": monthly(cheapest, endpoints_always_on=False),
        },
    }


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the docs/cost.md table")
    args = parser.parse_args()
    found = scenarios()
    result = {
        "traffic": {k: round(v, 2) for k, v in rates().items()},
        "scenarios": found,
        "totals": {name: round(sum(s["cost"].values()), 2) for name, s in found.items()},
        "prices_as_of": "2026-11-30",
    }
    if args.markdown:
        print(markdown(result))
    else:
        json.dump(result, sys.stdout, indent=1, default=str)
        print()


if __name__ == "__main__":
    main()
