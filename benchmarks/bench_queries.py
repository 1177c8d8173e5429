"""Dashboard queries on the dbt tables built over N posts (default 10,000,000).

Builds the marts once, then times each dashboard query (median of 20) through the same
read-only session `fraud-pipeline query` uses. Target: each under 200 ms at 10M posts.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_dbt import dbt_build, write_compacted_lake

from fraud_pipeline.analytics.query import check_read_only, open_session
from fraud_pipeline.settings import load_settings

QUERIES = {
    "per_second_last_hour": (
        "SELECT * FROM seed_metrics_per_second "
        "WHERE ts >= (SELECT max(ts) FROM seed_metrics_per_second) - INTERVAL 1 HOUR ORDER BY ts"
    ),
    "per_minute_last_day": (
        "SELECT ts, post_processed, post_is_fraud, pct_fraud FROM seed_metrics_per_minute "
        "WHERE ts >= (SELECT max(ts) FROM seed_metrics_per_minute) - INTERVAL 1 DAY ORDER BY ts"
    ),
    "fraud_summary": "SELECT * FROM fraud_summary ORDER BY arrival_hour DESC LIMIT 48",
    "top_fraud_domains": "SELECT * FROM top_fraud_domains ORDER BY rank LIMIT 20",
    "fraud_campaigns": "SELECT * FROM fraud_campaigns ORDER BY accounts DESC LIMIT 20",
    "flagged_accounts": "SELECT * FROM flagged_accounts ORDER BY fraud_posts DESC LIMIT 50",
    "latency_percentiles": "SELECT * FROM latency_percentiles ORDER BY ts DESC LIMIT 60",
    "score_distribution": (
        "SELECT * FROM score_distribution "
        "WHERE arrival_hour = (SELECT max(arrival_hour) FROM score_distribution)"
    ),
    "score_drift": "SELECT * FROM score_drift ORDER BY arrival_hour DESC LIMIT 48",
}


def main(posts: int = 10_000_000, hours: int = 24, repeats: int = 20) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, home=Path(tmp) / "home")
        write_compacted_lake(settings, posts, hours)
        build_s = dbt_build(settings)
        con, _ = open_session(settings)
        medians = {}
        try:
            for name, sql in QUERIES.items():
                check_read_only(con, sql)
                con.sql(sql).fetchall()  # warm
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    con.sql(sql).fetchall()
                    times.append((time.perf_counter() - start) * 1000)
                medians[name] = round(statistics.median(times), 2)
        finally:
            con.close()
        return {
            "benchmark": "dashboard_queries",
            "posts": posts,
            "dbt_build_seconds": round(build_s, 2),
            "query_ms_median": medians,
            "max_query_ms": max(medians.values()),
            "target_ms": 200,
        }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)))
