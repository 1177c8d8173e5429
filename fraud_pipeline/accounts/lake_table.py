"""The lake's `accounts` table: one row each time an account's verdict changes.

An account verdict whose action or fired signals changed (accounts/tracker.py) travels the
tagged stream as a record in the tagged schema with `operation = "account"` and `uri` = the
account's DID: the labels worker reads it as a label on the DID (a negation when the account
is cleared), and the delivery lands it under `accounts/YYYY/MM/DD/HH/` instead of `posts/`
(locally in `workers/delivery.py`, on AWS by Firehose's dynamic partitioning on
`operation`). Sharing the tagged schema keeps one Glue column list and one Parquet
conversion for both; an account row uses these columns:

  did, uri (= did)            the account
  time_utc, time_us           its latest event the verdict was judged at
  fraud_score, action         the account score and action (label | review | none)
  is_fraud                    action != none
  labels                      the verdict labels of a `label` action (policy accounts.label)
  reasons, rule_hits          the signals that fired (with their counts) / their names
  fraud_text_likelihood       the text model's score of the latest profile text
  policy_version              the policy that judged it
  scored_at_us                when it was judged (the table's `evaluated_at`)
  account_signals             JSON: every signal's value, handle, previous action

The table is registered in the catalog as `accounts` beside `posts` and `labels` (same
hourly partition projection); the `flagged_accounts` mart reads the newest row per account.
"""

from __future__ import annotations

from typing import Final

import duckdb
import orjson

from fraud_pipeline.accounts.tracker import AccountVerdict
from fraud_pipeline.catalog.base import Catalog, Column, lake_columns
from fraud_pipeline.records import ACCOUNT_OPERATION, TaggedRecord, contentless_fields, iso_from_us
from fraud_pipeline.settings import Settings

ACCOUNTS_TABLE: Final = "accounts"


def account_record(
    verdict: AccountVerdict,
    scored_at_us: int,
    labels: list[str],
    text_model_version: str | None = None,
) -> TaggedRecord:
    """An account verdict as a tagged-stream record (`labels` only for a `label` action)."""
    signals = verdict.signals
    profile_p = signals.get("profile_text_likelihood")
    return TaggedRecord(
        **contentless_fields(),
        uri=verdict.did,
        time_utc=iso_from_us(verdict.time_us),
        fraud_text_likelihood=profile_p if isinstance(profile_p, float) else None,
        did=verdict.did,
        rkey="",
        operation=ACCOUNT_OPERATION,
        time_us=verdict.time_us,
        fraud_score=verdict.score,
        is_fraud=verdict.action != "none",
        labels=list(labels) if verdict.action == "label" else [],
        reasons=list(verdict.reasons),
        rule_hits=sorted({r.partition(":")[0] for r in verdict.reasons}),
        text_model_version=text_model_version if profile_p is not None else None,
        ingested_at_us=0,
        scored_at_us=scored_at_us,
        action=verdict.action,
        policy_version=verdict.policy_version,
        account_signals=orjson.dumps(
            {
                **signals,
                "handle": verdict.handle,
                "previous_action": verdict.previous_action,
            },
            option=orjson.OPT_SORT_KEYS,
        ).decode(),
    )


def accounts_location(settings: Settings) -> str:
    if settings.backend == "aws":
        return f"s3://{settings.bucket}/{settings.accounts_prefix}"
    return settings.lake_path.resolve().as_uri() + "/" + settings.accounts_prefix


def ensure_accounts_table(catalog: Catalog, settings: Settings) -> None:
    """The `accounts` table in the catalog (Glue | DuckDB): the tagged columns, hourly partitions."""
    from fraud_pipeline.provision import RAW_PARTITION_KEY, raw_table_parameters

    location = accounts_location(settings)
    catalog.ensure_table(
        settings.glue_database,
        ACCOUNTS_TABLE,
        lake_columns(),
        location,
        partition_keys=[Column(RAW_PARTITION_KEY, "string")],
        parameters=raw_table_parameters(location),
    )


def accounts_glob(settings: Settings) -> str:
    from fraud_pipeline.analytics.lake_sql import lake_uri

    return lake_uri(settings, f"{settings.accounts_prefix}*/*/*/*/*.parquet")


def create_accounts_view(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """`accounts` in an ad hoc query session: the account rows, or none with the same columns."""
    from fraud_pipeline.analytics.lake_sql import schema_file_uri

    glob = accounts_glob(settings).replace("'", "''")
    found = con.sql(f"SELECT count(*) FROM glob('{glob}')").fetchall()[0][0]
    source = glob if found else schema_file_uri(settings).replace("'", "''")
    where = "" if found else " WHERE false"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {ACCOUNTS_TABLE} AS SELECT * FROM read_parquet('{source}'){where}"
    )
