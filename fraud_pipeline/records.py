"""The record schemas: normalized post, tagged record, their Arrow schema and Glue columns.

A `Post` is what ingest makes of one Jetstream/firehose event on `app.bsky.feed.post`
(create, update or delete) and puts on the untagged stream as JSON. A `TaggedRecord` is the
post plus the scorer's verdict; the scoring handler puts it on the tagged stream as JSON and
the Firehose(-equivalent) delivery lands it in the lake as Parquet with `TAGGED_ARROW_SCHEMA`.

The seed's Glue columns (`SEED_GLUE_COLUMNS`) must stay; everything else sits beside them.
Deletes travel as records with `operation == "delete"` and no scores, so the lake can
forget deleted posts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pyarrow as pa

Operation = Literal["create", "update", "delete"]
OPERATIONS: tuple[str, ...] = ("create", "update", "delete")
# On the tagged stream only: a new verdict for an earlier post (a campaign re-labelling it,
# scoring/relabel.py); compaction applies it to the post (lake/verdicts.py).
VERDICT_OPERATION = "verdict"
# On the tagged stream only: an account's verdict changed (accounts/lake_table.py). `uri` is the
# account's DID; the delivery lands these in the accounts table's prefix, not among the posts.
ACCOUNT_OPERATION = "account"
# What the verdict asks for: `label` (automatic, very precise), `review` (a human looks: the
# wider band), `none`. `is_fraud` is `action != "none"`. The policy sets the operating points.
Action = Literal["label", "review", "none"]
ACTIONS: tuple[str, ...] = ("label", "review", "none")
POST_COLLECTION = "app.bsky.feed.post"

SEED_GLUE_COLUMNS: tuple[str, ...] = (
    "uri",
    "time_utc",
    "text",
    "media_paths",
    "fraud_text_likelihood",
    "fraud_media_likelihood",
)


class RecordError(ValueError):
    """A stream payload is not a valid post or tagged record."""


# Two-digit seconds and three-digit halves of the microseconds, by value: a tuple read is far
# cheaper than formatting an int (`f"{micros:06d}"` costs more than the rest of the record).
_SECONDS: tuple[str, ...] = tuple(f"{n:02d}" for n in range(60))
_THOUSANDS: tuple[str, ...] = tuple(f"{n:03d}" for n in range(1000))


class _Clock:
    """The last second and minute `iso_from_us` formatted (posts arrive in time order). Each is
    one tuple, number and text together, so a thread never reads one's text with another's
    number."""

    def __init__(self) -> None:
        # Filled from the epoch's own formatting, so no second holds a placeholder.
        epoch = datetime.fromtimestamp(0, tz=UTC)
        self.minute: tuple[int, str] = (0, epoch.strftime("%Y-%m-%dT%H:%M:"))  # "YYYY-MM-DDTHH:MM:"
        self.second: tuple[int, str] = (0, epoch.strftime("%Y-%m-%dT%H:%M:%S."))  # "…:SS."
        # The tables, read through the clock: compiled, a module global is a dict look-up each
        # time, an attribute of a native object a load.
        self.seconds = _SECONDS
        self.thousands = _THOUSANDS


_CLOCK = _Clock()


def iso_from_us(time_us: int) -> str:
    """Microseconds since the epoch -> ISO 8601 UTC with a trailing Z (Firehose-parseable):
    `datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S")` of the second, then the six
    digits of the microsecond and `Z`.

    Posts arrive in time order, so the formatted minute and second are cached: strftime runs once
    per minute (Unix time has 60 seconds in every minute, so a second is its minute's prefix and
    two digits), and the microseconds are two table reads, not an int's formatting (which cost
    more than the rest of the record). tests/test_records_time.py holds it to the strftime and
    `:06d` it replaces.
    """
    clock = _CLOCK
    # `%`, not `time_us - second * 1_000_000`: compiled, a product that large leaves mypyc's
    # fast path for a multiply of boxed ints (0.8 k instructions).
    second = time_us // 1_000_000
    micros = time_us % 1_000_000
    cached_second, prefix = clock.second
    if second != cached_second:
        minute = second // 60
        cached_minute, minute_prefix = clock.minute
        if minute != cached_minute:
            minute_prefix = datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%dT%H:%M:")
            clock.minute = (minute, minute_prefix)
        prefix = f"{minute_prefix}{clock.seconds[second % 60]}."
        clock.second = (second, prefix)
    thousands = clock.thousands
    return f"{prefix}{thousands[micros // 1000]}{thousands[micros % 1000]}Z"


@dataclass(slots=True)
class Post:
    """One normalized post event. Field order is the column order of the lake."""

    uri: str  # at://<did>/app.bsky.feed.post/<rkey>
    did: str
    rkey: str
    operation: Operation
    time_us: int  # Jetstream/relay time of the event (trusted clock)
    cid: str | None = None
    created_at: str | None = None  # client-provided createdAt (may be back-dated)
    text: str = ""
    langs: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # URLs from link facets and external embeds
    domains: list[str] = field(default_factory=list)  # lower-case hosts of `links`
    mentions: list[str] = field(default_factory=list)  # DIDs from mention facets
    tags: list[str] = field(default_factory=list)  # hashtags from tag facets and record tags
    reply_root: str | None = None
    reply_parent: str | None = None
    embed_kind: str | None = None  # images | video | external | record | recordWithMedia | unknown
    media_kinds: list[str] = field(default_factory=list)  # one per media item: image | video
    media_paths: list[str] = field(default_factory=list)  # CDN URLs by DID and blob CID
    media_cids: list[str] = field(default_factory=list)
    media_alts: list[str] = field(default_factory=list)
    quote_uri: str | None = None
    external_uri: str | None = None
    external_title: str | None = None
    external_description: str | None = None
    ingested_at_us: int = 0  # when ingest put it on the untagged stream

    @property
    def time_utc(self) -> str:
        return iso_from_us(self.time_us)

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Post:
        try:
            post = cls(**{name: payload[name] for name in _POST_FIELDS if name in payload})
        except TypeError as exc:
            raise RecordError(f"not a post: {exc}") from exc
        _validate_post(post)
        return post

    @classmethod
    def from_json(cls, data: bytes | str) -> Post:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise RecordError(f"not a JSON object: {type(payload).__name__}")
        return cls.from_dict(payload)


_POST_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Post))


def _validate_post(post: Post) -> None:
    for name in ("uri", "did", "rkey"):
        if not isinstance(getattr(post, name), str) or not getattr(post, name):
            raise RecordError(f"post field {name!r} must be a non-empty string")
    if post.operation not in OPERATIONS:
        raise RecordError(f"post operation must be one of {OPERATIONS}, got {post.operation!r}")
    if not isinstance(post.time_us, int) or isinstance(post.time_us, bool):
        raise RecordError("post field 'time_us' must be an integer")
    if not isinstance(post.text, str):
        raise RecordError("post field 'text' must be a string")


@dataclass(slots=True)
class TaggedRecord:
    """A post with the scorer's verdict, as it lands in the lake."""

    uri: str
    time_utc: str  # ISO 8601 of Post.time_us
    text: str
    media_paths: list[str]
    fraud_text_likelihood: float | None  # None when the text model was unavailable
    fraud_media_likelihood: float | None  # None when there is no media or the model was unavailable
    did: str
    rkey: str
    cid: str | None
    operation: str
    time_us: int
    created_at: str | None
    langs: list[str]
    links: list[str]
    domains: list[str]
    mentions: list[str]
    tags: list[str]
    reply_root: str | None
    reply_parent: str | None
    embed_kind: str | None
    media_kinds: list[str]
    media_cids: list[str]
    media_alts: list[str]
    quote_uri: str | None
    external_uri: str | None
    fraud_score: float | None
    is_fraud: bool
    labels: list[str]
    reasons: list[str]
    rule_hits: list[str]
    text_model_version: str | None
    media_model_version: str | None
    ingested_at_us: int
    scored_at_us: int
    # Added after the first schema: defaults keep older JSON and Parquet readable.
    action: str = "none"  # one of ACTIONS
    policy_version: str | None = None  # the detection policy that judged it (None: deletes, old rows)
    campaign_id: str | None = None  # the campaign the post belongs to (joins `fraud_campaigns`)
    account_signals: str | None = None  # account records: the signals of the verdict, a JSON object

    # Written out (not generated by `dataclasses`): compiled, mypyc makes a written `__init__` a
    # native constructor, where the generated one runs interpreted (12 k instructions per post).
    # tests/test_records_init.py holds its parameters to the fields, in order, with their defaults.
    def __init__(
        self,
        uri: str,
        time_utc: str,
        text: str,
        media_paths: list[str],
        fraud_text_likelihood: float | None,
        fraud_media_likelihood: float | None,
        did: str,
        rkey: str,
        cid: str | None,
        operation: str,
        time_us: int,
        created_at: str | None,
        langs: list[str],
        links: list[str],
        domains: list[str],
        mentions: list[str],
        tags: list[str],
        reply_root: str | None,
        reply_parent: str | None,
        embed_kind: str | None,
        media_kinds: list[str],
        media_cids: list[str],
        media_alts: list[str],
        quote_uri: str | None,
        external_uri: str | None,
        fraud_score: float | None,
        is_fraud: bool,
        labels: list[str],
        reasons: list[str],
        rule_hits: list[str],
        text_model_version: str | None,
        media_model_version: str | None,
        ingested_at_us: int,
        scored_at_us: int,
        action: str = "none",
        policy_version: str | None = None,
        campaign_id: str | None = None,
        account_signals: str | None = None,
    ) -> None:
        self.uri = uri
        self.time_utc = time_utc
        self.text = text
        self.media_paths = media_paths
        self.fraud_text_likelihood = fraud_text_likelihood
        self.fraud_media_likelihood = fraud_media_likelihood
        self.did = did
        self.rkey = rkey
        self.cid = cid
        self.operation = operation
        self.time_us = time_us
        self.created_at = created_at
        self.langs = langs
        self.links = links
        self.domains = domains
        self.mentions = mentions
        self.tags = tags
        self.reply_root = reply_root
        self.reply_parent = reply_parent
        self.embed_kind = embed_kind
        self.media_kinds = media_kinds
        self.media_cids = media_cids
        self.media_alts = media_alts
        self.quote_uri = quote_uri
        self.external_uri = external_uri
        self.fraud_score = fraud_score
        self.is_fraud = is_fraud
        self.labels = labels
        self.reasons = reasons
        self.rule_hits = rule_hits
        self.text_model_version = text_model_version
        self.media_model_version = media_model_version
        self.ingested_at_us = ingested_at_us
        self.scored_at_us = scored_at_us
        self.action = action
        self.policy_version = policy_version
        self.campaign_id = campaign_id
        self.account_signals = account_signals

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_post(
        cls,
        post: Post,
        fraud_text_likelihood: float | None,
        fraud_media_likelihood: float | None,
        fraud_score: float | None,
        is_fraud: bool,
        labels: list[str],
        reasons: list[str],
        rule_hits: list[str],
        text_model_version: str | None,
        media_model_version: str | None,
        scored_at_us: int,
        action: str = "none",
        policy_version: str | None = None,
        campaign_id: str | None = None,
        media_paths: list[str] | None = None,
    ) -> TaggedRecord:
        """The tagged record of `post` with its verdict. `media_paths` replaces the post's own
        (the media's copies in the bucket). The scorer calls it positionally, once per post."""
        # Positional, in field order (once per post: keywords cost twice as much), and by the
        # class's name, not `cls` (compiled, a direct call of the native constructor); a test
        # checks every field against its name.
        return TaggedRecord(
            post.uri,
            iso_from_us(post.time_us),
            post.text,
            post.media_paths if media_paths is None else media_paths,
            fraud_text_likelihood,
            fraud_media_likelihood,
            post.did,
            post.rkey,
            post.cid,
            post.operation,
            post.time_us,
            post.created_at,
            post.langs,
            post.links,
            post.domains,
            post.mentions,
            post.tags,
            post.reply_root,
            post.reply_parent,
            post.embed_kind,
            post.media_kinds,
            post.media_cids,
            post.media_alts,
            post.quote_uri,
            post.external_uri,
            fraud_score,
            is_fraud,
            labels,
            reasons,
            rule_hits,
            text_model_version,
            media_model_version,
            post.ingested_at_us,
            scored_at_us,
            action,
            policy_version,
            campaign_id,
        )


TAGGED_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TaggedRecord))

_STR_LIST = pa.list_(pa.string())
_TIMESTAMP = pa.timestamp("us", tz="UTC")

# The lake's Parquet schema (Firehose converts JSON to this via the Glue table).
TAGGED_ARROW_SCHEMA = pa.schema(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("time_utc", _TIMESTAMP, nullable=False),
        pa.field("text", pa.string()),
        pa.field("media_paths", _STR_LIST),
        pa.field("fraud_text_likelihood", pa.float64()),
        pa.field("fraud_media_likelihood", pa.float64()),
        pa.field("did", pa.string(), nullable=False),
        pa.field("rkey", pa.string()),
        pa.field("cid", pa.string()),
        pa.field("operation", pa.string(), nullable=False),
        pa.field("time_us", pa.int64()),
        pa.field("created_at", pa.string()),
        pa.field("langs", _STR_LIST),
        pa.field("links", _STR_LIST),
        pa.field("domains", _STR_LIST),
        pa.field("mentions", _STR_LIST),
        pa.field("tags", _STR_LIST),
        pa.field("reply_root", pa.string()),
        pa.field("reply_parent", pa.string()),
        pa.field("embed_kind", pa.string()),
        pa.field("media_kinds", _STR_LIST),
        pa.field("media_cids", _STR_LIST),
        pa.field("media_alts", _STR_LIST),
        pa.field("quote_uri", pa.string()),
        pa.field("external_uri", pa.string()),
        pa.field("fraud_score", pa.float64()),
        pa.field("is_fraud", pa.bool_()),
        pa.field("labels", _STR_LIST),
        pa.field("reasons", _STR_LIST),
        pa.field("rule_hits", _STR_LIST),
        pa.field("text_model_version", pa.string()),
        pa.field("media_model_version", pa.string()),
        pa.field("ingested_at_us", pa.int64()),
        pa.field("scored_at_us", pa.int64()),
        pa.field("action", pa.string()),
        pa.field("policy_version", pa.string()),
        pa.field("campaign_id", pa.string()),
        pa.field("account_signals", pa.string()),
    ]
)

assert tuple(TAGGED_ARROW_SCHEMA.names) == TAGGED_FIELDS, "Arrow schema and TaggedRecord drifted apart"
assert TAGGED_FIELDS[: len(SEED_GLUE_COLUMNS)] == SEED_GLUE_COLUMNS


def _glue_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type):
        return "string"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type):
        return f"array<{_glue_type(arrow_type.value_type)}>"
    raise TypeError(f"no Glue type for {arrow_type}")


def glue_columns(schema: pa.Schema = TAGGED_ARROW_SCHEMA) -> list[dict[str, str]]:
    """Glue `StorageDescriptor.Columns` for the lake table, derived from the Arrow schema."""
    return [{"Name": f.name, "Type": _glue_type(f.type)} for f in schema]


def parse_time_utc(value: str) -> datetime:
    """Parse the ISO 8601 `time_utc` string of a tagged record."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as exc:
        raise RecordError(f"time_utc is not ISO 8601: {value!r}") from exc


def contentless_fields() -> dict[str, Any]:
    """The post-content columns of a record that judges something other than a new post.

    Verdict updates (`operation = "verdict"`) and account verdicts (`"account"`) travel in the
    tagged schema but carry no post of their own: no text, media, links or reply context.
    """
    return {
        "text": "",
        "media_paths": [],
        "fraud_media_likelihood": None,
        "cid": None,
        "created_at": None,
        "langs": [],
        "links": [],
        "domains": [],
        "mentions": [],
        "tags": [],
        "reply_root": None,
        "reply_parent": None,
        "embed_kind": None,
        "media_kinds": [],
        "media_cids": [],
        "media_alts": [],
        "quote_uri": None,
        "external_uri": None,
        "media_model_version": None,
    }


def tagged_rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Tagged-record dicts (decoded JSON) -> an Arrow table with the lake schema.

    Raises RecordError naming the first offending field when a row does not convert, so the
    delivery can send that record to the errors prefix instead of failing the whole batch.
    """
    columns: dict[str, list[Any]] = {name: [] for name in TAGGED_FIELDS}
    for row in rows:
        for name in TAGGED_FIELDS:
            value = row.get(name)
            if name == "time_utc" and isinstance(value, str):
                value = parse_time_utc(value)
            columns[name].append(value)
    try:
        return pa.table(columns, schema=TAGGED_ARROW_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RecordError(f"tagged record does not fit the lake schema: {exc}") from exc
