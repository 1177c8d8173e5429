"""The AWS state store: one DynamoDB table (string hash key `pk`).

Items: `checkpoint#<key>` with a string `value`; `counter#<key>` with a number `value`
changed only by atomic `ADD` and an optional `expires_at` (epoch seconds) that the table's
TTL sweeper uses. DynamoDB deletes expired items lazily (up to days later), so an expired
counter that still exists is treated as 0: the increment is conditional on the counter not
being expired, and when that condition fails it is restarted with a second conditional write.
TTL is a fixed window set when a counter (re)starts, the same as the local stores.

Member sets (the behaviour counted across shards) are one item `set#<key>` per set, each
member a top-level attribute `m:<member>` holding the value of its first sighting
(`SET m = if_not_exists(m, :v)`: idempotent and order-free, so concurrent writers and retried
batches never lose or double a member), and `expires_at` pushed forward by every write. A
batch of sightings is written with `TransactWriteItems`, up to 100 sets per call, and read
with `BatchGetItem` (strongly consistent), up to 100 sets per call: a scoring batch costs
about (sets touched / 100) round trips each way, however many posts it holds. The
transaction is only a carrier for 100 independent upserts; one cancelled by a concurrent
writer is retried whole, which is safe because every upsert is idempotent. A set written
again after it expired but before DynamoDB swept it keeps its old members; behaviour keys
carry their time bucket, so that happens only when old event times are replayed.
Cache entries are items `cache#<key>` with a string `value` and `expires_at`, written with
`BatchWriteItem` (25 per call) and read with `BatchGetItem` (100 per call); an entry past its
expiry that the sweeper has not removed yet reads as missing.
`calls` counts the round trips per operation (the state benchmark reports them).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fraud_pipeline.aws import aws_client
from fraud_pipeline.state import StateError
from fraud_pipeline.state.base import SightingRow, SightingRuns
from fraud_pipeline.state.sqlite import (
    check_cache_values,
    check_key,
    check_sightings,
    count_in_window,
    sighting_rows,
)

BATCH_WRITE_ITEMS = 25
BATCH_GET_ITEMS = 100  # BatchGetItem's limit
TRANSACT_ITEMS = 100  # TransactWriteItems' limit
MEMBERS_PER_UPDATE = 60  # keeps one update expression well under DynamoDB's 4 KB
MEMBER_PREFIX = "m:"
TTL_ATTRIBUTE = "expires_at"
# Cancellation reasons a retry cannot fix; the others (TransactionConflict, throttling) pass.
_FINAL_CANCELLATIONS = {"ValidationError", "ConditionalCheckFailed", "ItemCollectionSizeLimitExceeded"}
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
    def __init__(
        self,
        client: Any,
        table: str,
        clock: Callable[[], float] = time.time,
        set_writes: str = "transact",
    ) -> None:
        """`set_writes`: "transact" (up to 100 sets per TransactWriteItems, what AWS gets) or
        "update" (one UpdateItem per set, for emulators: moto 5.2.5 deep-copies the whole table
        on every transaction and restores that copy on any error, which is slow and, with
        concurrent writers, loses their items)."""
        if set_writes not in ("transact", "update"):
            raise StateError(f"set_writes must be 'transact' or 'update', got {set_writes!r}")
        self.client = client
        self.table = table
        self._clock = clock
        self.set_writes = set_writes
        self.calls: Counter[str] = Counter()

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        self.calls[what] += 1
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

    def get_checkpoints(self, keys: Collection[str]) -> dict[str, str]:
        """BatchGetItem (strongly consistent), 100 keys per call."""
        prefix = "checkpoint#"
        out: dict[str, str] = {}
        for item in self._batch_get([{"pk": {"S": prefix + check_key(k)}} for k in dict.fromkeys(keys)]):
            if "value" in item:
                out[item["pk"]["S"][len(prefix) :]] = str(item["value"]["S"])
        return out

    def _batch_get(self, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every item among `wanted` keys, BatchGetItem by 100, unprocessed keys retried."""
        items: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BATCH_GET_ITEMS):
            pending: dict[str, Any] = {
                self.table: {"Keys": wanted[start : start + BATCH_GET_ITEMS], "ConsistentRead": True}
            }
            delay = 0.02
            for _ in range(10):
                response = self._call("batch_get_item", self.client.batch_get_item, RequestItems=pending)
                items.extend(response.get("Responses", {}).get(self.table, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            if pending:
                raise StateError(f"DynamoDB kept {len(pending[self.table]['Keys'])} items unprocessed")
        return items

    def put_checkpoint(self, key: str, value: str) -> None:
        self.put_checkpoints({key: value})

    def put_checkpoints(self, values: dict[str, str]) -> None:
        """batch_write_item in chunks of 25, retrying unprocessed items (not atomic across chunks)."""
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": "checkpoint#" + check_key(k)}, "value": {"S": str(v)}}}}
            for k, v in values.items()
        ]
        self._batch_write(requests, "checkpoints")

    def _batch_write(self, requests: list[dict[str, Any]], what: str) -> None:
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
                raise StateError(f"DynamoDB kept {len(pending[self.table])} {what} unprocessed")

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

    # -- member sets ----------------------------------------------------------------
    def add_members(self, sightings: Sequence[SightingRow] | SightingRuns, ttl_s: int) -> None:
        sightings = sighting_rows(sightings)
        check_sightings(sightings)
        by_key: dict[str, dict[str, str]] = {}
        for key, member, value in sightings:
            by_key.setdefault(key, {}).setdefault(member, value)
        expires = str(int(self._clock()) + ttl_s)
        transactions: list[list[dict[str, Any]]] = []
        keys_in: list[set[str]] = []
        for key, members in by_key.items():
            items = list(members.items())
            for start in range(0, len(items), MEMBERS_PER_UPDATE):
                update = _set_update(self.table, key, items[start : start + MEMBERS_PER_UPDATE], expires)
                # A transaction may name an item once: a set's second chunk goes to another one.
                slot = next(
                    (
                        i
                        for i, t in enumerate(transactions)
                        if len(t) < TRANSACT_ITEMS and key not in keys_in[i]
                    ),
                    None,
                )
                if slot is None:
                    transactions.append([])
                    keys_in.append(set())
                    slot = len(transactions) - 1
                transactions[slot].append(update)
                keys_in[slot].add(key)
        for actions in transactions:
            if self.set_writes == "update":
                for action in actions:
                    self._call("update_item", self.client.update_item, **action["Update"])
            else:
                self._transact(actions)

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        """One TransactWriteItems, retried whole while concurrent writers cancel it."""
        delay = 0.02
        for _ in range(10):
            try:
                self._call("transact_write_items", self.client.transact_write_items, TransactItems=actions)
                return
            except StateError as exc:
                cause = exc.__cause__
                if not isinstance(cause, ClientError) or _code(cause) not in (
                    "TransactionCanceledException",
                    "TransactionConflictException",
                    "TransactionInProgressException",
                ):
                    raise
                reasons = {r.get("Code") for r in cause.response.get("CancellationReasons", []) or []}
                if reasons & _FINAL_CANCELLATIONS:
                    raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
        raise StateError(f"DynamoDB kept cancelling a transaction of {len(actions)} set updates")

    def get_members(self, keys: Collection[str], ttl_s: int | None = None) -> dict[str, dict[str, str]]:
        """One item per set, whatever its time-to-live: `ttl_s` changes nothing."""
        out: dict[str, dict[str, str]] = {}
        now = int(self._clock())
        for item in self._batch_get([{"pk": {"S": "set#" + check_key(k)}} for k in dict.fromkeys(keys)]):
            if TTL_ATTRIBUTE in item and int(item[TTL_ATTRIBUTE]["N"]) <= now:
                continue
            members = {
                name[len(MEMBER_PREFIX) :]: value["S"]
                for name, value in item.items()
                if name.startswith(MEMBER_PREFIX)
            }
            if members:
                out[item["pk"]["S"][len("set#") :]] = members
        return out

    # -- cache ----------------------------------------------------------------------
    def put_cached(self, values: Mapping[str, str], ttl_s: int) -> None:
        check_cache_values(values)
        expires = str(int(self._clock()) + ttl_s)
        requests = [
            {
                "PutRequest": {
                    "Item": {"pk": {"S": "cache#" + k}, "value": {"S": v}, TTL_ATTRIBUTE: {"N": expires}}
                }
            }
            for k, v in values.items()
        ]
        self._batch_write(requests, "cache entries")

    def get_cached(self, keys: Collection[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        now = int(self._clock())
        wanted = [{"pk": {"S": "cache#" + check_key(k)}} for k in dict.fromkeys(keys)]
        for start in range(0, len(wanted), BATCH_GET_ITEMS):
            pending: dict[str, Any] = {self.table: {"Keys": wanted[start : start + BATCH_GET_ITEMS]}}
            delay = 0.02
            for _ in range(10):
                response = self._call("batch_get_item", self.client.batch_get_item, RequestItems=pending)
                for item in response.get("Responses", {}).get(self.table, []):
                    if TTL_ATTRIBUTE in item and int(item[TTL_ATTRIBUTE]["N"]) <= now:
                        continue
                    out[item["pk"]["S"][len("cache#") :]] = item["value"]["S"]
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            if pending:
                raise StateError(f"DynamoDB kept {len(pending[self.table]['Keys'])} cache keys unprocessed")
        return out

    def count_members(self, groups: Mapping[str, tuple[Collection[str], str]]) -> dict[str, int]:
        """Counted here from the sets' items (DynamoDB has no server-side count of attributes)."""
        keys = {key for set_keys, _ in groups.values() for key in set_keys}
        return count_in_window(self.get_members(keys), groups)

    def close(self) -> None:
        self.client.close()


def _set_update(table: str, key: str, members: list[tuple[str, str]], expires: str) -> dict[str, Any]:
    """One transaction action: upsert `members` (first value kept) and push the set's expiry."""
    names = {"#e": TTL_ATTRIBUTE}
    values: dict[str, Any] = {":e": {"N": expires}}
    clauses = ["#e = :e"]
    for i, (member, value) in enumerate(members):
        names[f"#m{i}"] = MEMBER_PREFIX + member
        values[f":v{i}"] = {"S": value}
        clauses.append(f"#m{i} = if_not_exists(#m{i}, :v{i})")
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": "set#" + key}},
            "UpdateExpression": "SET " + ", ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
