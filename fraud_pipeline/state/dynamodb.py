"""The AWS state store: one DynamoDB table (string hash key `pk`).

Items: `checkpoint#<key>` with a string `value`; `counter#<key>` with a number `value`
changed only by atomic `ADD` and an optional `expires_at` (epoch seconds) that the table's
TTL sweeper uses. DynamoDB deletes expired items lazily (up to days later), so an expired
counter that still exists is treated as 0: the increment is conditional on the counter not
being expired, and when that condition fails it is restarted with a second conditional write.
TTL is a fixed window set when a counter (re)starts, the same as the local stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fraud_pipeline.aws import aws_client
from fraud_pipeline.state import StateError
from fraud_pipeline.state.sqlite import check_key

BATCH_WRITE_ITEMS = 25
TTL_ATTRIBUTE = "expires_at"
_NAMES = {"#v": "value", "#e": TTL_ATTRIBUTE}  # `value` is a DynamoDB reserved word


def dynamodb_client(region: str, endpoint_url: str | None) -> Any:
    return aws_client("dynamodb", region, endpoint_url)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def ensure_table(client: Any, table: str, timeout_s: float = 120.0) -> dict[str, bool]:
    """Create the state table (PAY_PER_REQUEST) and enable TTL on `expires_at`, idempotently.

    Returns {"created": ..., "ttl_enabled": ...} saying what this call changed.
    """
    created = False
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created = True
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise StateError(f"cannot create DynamoDB table {table!r}: {exc}") from exc
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while client.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise StateError(f"DynamoDB table {table!r} not ACTIVE after {timeout_s:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    ttl = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    ttl_enabled = False
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
        ttl_enabled = True
    return {"created": created, "ttl_enabled": ttl_enabled}


class DynamoDbStateStore:
    def __init__(self, client: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.table = table
        self._clock = clock

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise
            if _code(exc) == "ResourceNotFoundException":
                raise StateError(f"DynamoDB table {self.table!r} not found (run provision): {exc}") from exc
            raise StateError(f"DynamoDB {what} on {self.table!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StateError(f"DynamoDB {what} on {self.table!r} failed: {exc}") from exc

    # -- checkpoints ----------------------------------------------------------------
    def get_checkpoint(self, key: str) -> str | None:
        response = self._call(
            "get_item",
            self.client.get_item,
            TableName=self.table,
            Key={"pk": {"S": "checkpoint#" + check_key(key)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return str(item["value"]["S"]) if item and "value" in item else None

    def put_checkpoint(self, key: str, value: str) -> None:
        self.put_checkpoints({key: value})

    def put_checkpoints(self, values: dict[str, str]) -> None:
        """batch_write_item in chunks of 25, retrying unprocessed items (not atomic across chunks)."""
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": "checkpoint#" + check_key(k)}, "value": {"S": str(v)}}}}
            for k, v in values.items()
        ]
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            pending: dict[str, Any] = {self.table: requests[start : start + BATCH_WRITE_ITEMS]}
            delay = 0.05
            for _ in range(8):
                response = self._call("batch_write_item", self.client.batch_write_item, RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            if pending:
                raise StateError(f"DynamoDB kept {len(pending[self.table])} checkpoints unprocessed")

    # -- counters -------------------------------------------------------------------
    def increment(self, key: str, by: int = 1, ttl_s: int | None = None) -> int:
        pk = {"pk": {"S": "counter#" + check_key(key)}}
        for _ in range(5):
            now = int(self._clock())
            values: dict[str, Any] = {":by": {"N": str(by)}, ":now": {"N": str(now)}}
            expression = "ADD #v :by"
            if ttl_s is not None:
                values[":exp"] = {"N": str(now + ttl_s)}
                expression += " SET #e = if_not_exists(#e, :exp)"
            added = self._update_if(
                pk, expression, "attribute_not_exists(#e) OR #e > :now", values, "increment of", key
            )
            if added is not None:
                return added
            # Expired but not yet swept: restart it, unless another writer just did.
            restart = "SET #v = :by" + (", #e = :exp" if ttl_s is not None else " REMOVE #e")
            restarted = self._update_if(pk, restart, "#e <= :now", values, "restart of counter", key)
            if restarted is not None:
                return restarted
        raise StateError(f"counter {key!r}: too many concurrent restarts")

    def _update_if(
        self, pk: dict[str, Any], expression: str, condition: str, values: dict[str, Any], what: str, key: str
    ) -> int | None:
        """One conditional update of a counter: its new value, or None when the condition failed."""
        try:
            response = self._call(
                "update_item",
                self.client.update_item,
                TableName=self.table,
                Key=pk,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise StateError(f"DynamoDB {what} {key!r} failed: {exc}") from exc
            return None
        return int(response["Attributes"]["value"]["N"])

    def get_counter(self, key: str) -> int:
        response = self._call(
            "get_item",
            self.client.get_item,
            TableName=self.table,
            Key={"pk": {"S": "counter#" + check_key(key)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item or "value" not in item:
            return 0
        if TTL_ATTRIBUTE in item and int(item[TTL_ATTRIBUTE]["N"]) <= int(self._clock()):
            return 0
        return int(item["value"]["N"])

    def close(self) -> None:
        self.client.close()
