"""Synthetic Jetstream captures from labeled texts, with known labels for evaluation.

Why: the pipeline needs a realistic, redistributable event stream to run and be measured
on without the network. `synthesize` wraps labeled texts (`{"text","label"}` JSONL rows)
in Jetstream-format envelopes that look like the real thing where it matters to ingest and
scoring: every event kind (posts, likes, reposts, follows, identity, account, deletes,
the odd edit), did:plc identifiers, TID record keys, real CIDv1 strings, Poisson arrivals,
embeds (images ~7%, video, link cards, quotes, quote+media), facets with correct UTF-8
byte offsets, replies, and scam campaigns from many fresh accounts within minutes, with URL
variants, in five shapes (`CAMPAIGN_SHAPES`): a scam text, a bland text with a link, rotated
domains, near-duplicate wording, and one image reused. Benign repetition comes too, from
accounts with a history (`BENIGN_SHAPES`): a greeting, song lyrics, a meme image, a viral
quote with the article's link. A label file records uri -> label, campaign id, shape and
group. The same seed gives byte-identical output.

With `images=N` the image posts carry real pictures: N scam images and N benign ones drawn
by `fraud_pipeline.media.synth_images` (its `tune` half), shared by the posts as images are
on Bluesky (a campaign reuses one), each blob named by its real CID (CIDv1, raw codec,
sha2-256, as Bluesky's `bafkrei...`), and written beside the capture (`<name>.blobs/<cid>`)
for a local CDN stand-in (`media/blob_server.py`) to serve; a video's thumbnail is a benign
image under the video's CID. Then a share of lone scams are image-only (shape `image_only`):
an ordinary caption, no alt text, the scam painted on the picture.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import io
import os
import random
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libipld
import orjson
import zstandard

from fraud_pipeline.records import POST_COLLECTION, iso_from_us

B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
B32_LOWER = "abcdefghijklmnopqrstuvwxyz234567"
DEFAULT_START_US = 1_732_060_800_000_000  # 2024-11-20T00:00:00Z: fixed so a seed is reproducible

URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
BARE_DOMAIN_RE = re.compile(
    r"(?<![\w@/.-])((?:[a-z0-9-]+\.)+(?:com|net|org|io|xyz|top|live|site|app|co|me))\b"
)
MENTION_RE = re.compile(r"(?<!\w)@([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)")
TAG_RE = re.compile(r"(?<!\w)#([^\s#.,;:!?]{1,64})")

SCAM_WORDS = ["claim", "airdrop", "reward", "wallet", "secure", "verify", "bonus", "drop", "mint", "support"]
SCAM_TLDS = ["xyz", "top", "live", "site", "claims", "online"]
HANDLE_WORDS = [*SCAM_WORDS, "sun", "tea", "kite", "mossy", "river", "owl", "maple"]
LINK_SITES = ["nytimes.com", "theguardian.com", "github.com", "youtube.com", "en.wikipedia.org", "bbc.co.uk"]
LANGS = [["en"]] * 17 + [["pt"], ["ja"], ["en", "es"]]


@dataclass(frozen=True)
class LabeledText:
    text: str
    label: int


# Campaigns: every one from brand-new accounts within minutes, each post with a link.
CAMPAIGN_SHAPES = ("scam_text", "bland_link", "rotated_domains", "near_duplicate", "image_reuse")
# Repetition that is not fraud, from accounts the stream already knows.
BENIGN_SHAPES = ("greeting", "lyrics", "meme", "viral_quote")
BLAND_TEXTS = (
    "Found this really helpful today, sharing it here in case it helps someone else too",
    "Honestly did not expect this to work so well, have a look and tell me what you think",
    "A friend sent me this and I have been using it all week, worth a look",
    "Saving this for later, some genuinely useful ideas in here for everyone",
)
# Near-duplicate wording: a template and the words each account picks.
NEAR_DUPLICATE = (
    "{hey} everyone, I {found} a {site} with {great} tips for everyday {life}, {look}",
    {
        "hey": ["Hey", "Hi", "Hello", "Yo"],
        "found": ["found", "discovered", "came across", "stumbled on"],
        "site": ["site", "page", "website", "place"],
        "great": ["great", "useful", "handy", "amazing"],
        "life": ["life", "living", "stuff"],
        "look": ["have a look", "check it out", "take a look"],
    },
)
IMAGE_CAPTIONS = ("look at this", "wow, see this", "this is real", "had to share", "you need to see this")
GREETINGS = ("good morning everyone, have a lovely day today!", "happy friday everyone, enjoy the weekend!")
LYRICS = (
    "is this the real life, is this just fantasy, caught in a landslide, no escape from reality",
    "we will, we will rock you, singing it loud all day long with the whole team",
)
MEME_CAPTIONS = ("lol", "this is me", "me every monday", "too real", "", "accurate")
VIRAL_QUOTES = (
    "Be the change that you wish to see in the world. Words to live by this week",
    "The best time to plant a tree was 20 years ago, the second best time is now",
)


IMAGE_ONLY_SHARE = 0.01  # of organic posts, with `images`: an image-only scam


@dataclass(frozen=True)
class Labeled:
    """The truth about one synthesized post, for evaluation."""

    uri: str
    label: int
    campaign_id: str | None
    shape: str | None = None  # a campaign's or a benign group's shape
    group_id: str | None = None  # a benign repetition group ("benign-007")


def load_texts(paths: Iterable[Path | str]) -> list[LabeledText]:
    """Rows with a string `text` and an integer-like `label` (others are skipped)."""
    texts: list[LabeledText] = []
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                    text, label = row["text"], int(row["label"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
                if isinstance(text, str) and text.strip():
                    texts.append(LabeledText(text, 1 if label else 0))
    return texts


# -- identifiers ---------------------------------------------------------------------------


def tid(time_us: int, clock_id: int) -> str:
    """A TID record key: 13 sortable-base32 chars of (microseconds << 10 | clock id)."""
    value = ((time_us & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(B32_SORTABLE[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _cid(codec: int, data: bytes) -> str:
    """CIDv1 (codec, sha2-256) in multibase base32 lower: 'b' + base32(0x01 codec 0x12 0x20 digest)."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().rstrip("=").lower()


def record_cid(record: dict[str, Any]) -> str:
    """CID of a record: dag-cbor (0x71) of the record as JSON-shaped data."""
    return _cid(0x71, libipld.encode_dag_cbor(record))


def blob_cid(data: bytes) -> str:
    """CID of a blob: raw codec (0x55), like the bafkrei... CIDs of Bluesky images/videos."""
    return _cid(0x55, data)


@dataclass(frozen=True)
class BlobRecipe:
    """How to draw one blob again: image `index` of the scam or benign pool that
    `draw_image_pools` draws for the capture's seed, with `suffix` bytes after its end marker
    (an ordinary picture of its own: same pixels, another CID). A video's `thumbnail` is served
    under the video's CID, which is not the hash of the thumbnail's bytes."""

    scam: bool
    index: int
    suffix: bytes = b""
    thumbnail: bool = False


def draw_image_pools(count: int, seed: int) -> dict[bool, list[bytes]]:
    """The `count` scam (True) and benign (False) images a capture of `seed` draws, in order."""
    from fraud_pipeline.media.synth_images import benign_image, scam_image

    pools: dict[bool, list[bytes]] = {True: [], False: []}
    for index in range(count):
        pools[True].append(scam_image(seed * 10_007 + index, split="tune").data)
        # Mostly photos among ordinary pictures, as on Bluesky; every third of any kind.
        kind = None if index % 3 == 2 else "photo"
        pools[False].append(benign_image(seed * 10_007 + index, split="tune", kind=kind).data)
    return pools


def random_did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice(B32_LOWER) for _ in range(24))


# -- facets ----------------------------------------------------------------------------------


def facets_for(text: str, mention_dids: dict[str, str]) -> list[dict[str, Any]]:
    """Link, mention and tag facets with UTF-8 byte offsets, as the Bluesky app writes them."""
    facets: list[tuple[int, dict[str, Any]]] = []

    def span(start: int, end: int) -> dict[str, int]:
        byte_start = len(text[:start].encode("utf-8"))
        return {"byteStart": byte_start, "byteEnd": byte_start + len(text[start:end].encode("utf-8"))}

    taken: list[tuple[int, int]] = []
    for match in URL_RE.finditer(text):
        taken.append(match.span())
        feature = {"$type": "app.bsky.richtext.facet#link", "uri": match.group(0)}
        facets.append((match.start(), {"index": span(*match.span()), "features": [feature]}))
    for match in BARE_DOMAIN_RE.finditer(text):
        if any(a <= match.start() < b for a, b in taken):
            continue
        feature = {"$type": "app.bsky.richtext.facet#link", "uri": "https://" + match.group(1)}
        facets.append((match.start(), {"index": span(*match.span(1)), "features": [feature]}))
    for match in MENTION_RE.finditer(text):
        did = mention_dids.get(match.group(1).lower())
        if did:
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
            facets.append((match.start(), {"index": span(*match.span()), "features": [feature]}))
    for match in TAG_RE.finditer(text):
        feature = {"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)}
        facets.append((match.start(), {"index": span(*match.span()), "features": [feature]}))
    facets.sort(key=lambda item: item[0])
    return [facet for _, facet in facets]


# -- the generator ---------------------------------------------------------------------------


@dataclass
class _Account:
    did: str
    handle: str
    posts: list[tuple[str, str, str]]  # (uri, cid, rkey) of its live posts


@dataclass(order=True)
class _Due:
    due_us: int
    order: int
    campaign_id: str = ""
    account_index: int = 0
    text: str = ""
    label: int = 1
    shape: str = ""
    group_id: str = ""
    image: dict[str, Any] | None = field(default=None, compare=False)  # one blob for the group
    link_card: str = ""  # an external embed to this URL


class Synthesizer:
    """Builds one deterministic event stream. Use `synthesize()` unless you need the parts."""

    def __init__(
        self,
        texts: list[LabeledText],
        *,
        seed: int = 0,
        rate: float = 50.0,
        start_us: int = DEFAULT_START_US,
        accounts: int | None = None,
        campaign_every: int = 1500,
        benign_every: int = 2000,
        benign_after_s: float = 1200.0,
        images: int = 0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (events per second)")
        self.benign = [t.text for t in texts if t.label == 0]
        self.fraud = [t.text for t in texts if t.label == 1]
        if not self.benign or not self.fraud:
            raise ValueError("need labeled texts with both labels (0 and 1)")
        self.rng = random.Random(seed)
        self.rate = rate
        self.now_us = start_us
        self.campaign_every = campaign_every
        # Benign groups start once the organic accounts have a history (as in a running
        # deployment, where the state store remembers accounts for weeks).
        self.benign_every = benign_every
        self.benign_from_us = start_us + int(benign_after_s * 1_000_000)
        self.benign_groups = 0
        self.accounts = [self._new_account() for _ in range(accounts or 400)]
        self.organic_count = len(self.accounts)
        self.handles = {a.handle: a.did for a in self.accounts}
        self.recent_posts: list[tuple[str, str]] = []  # (uri, cid) anyone may reply to / like
        self.due: list[_Due] = []
        self.campaigns = 0
        self.order = 0
        # Drawn images: CID -> bytes, and the blob refs of each pool (empty: made-up CIDs);
        # how to draw each blob again (`BlobRecipe`), for a capture kept without its blobs.
        self.blobs: dict[str, bytes] = {}
        self.recipes: dict[str, BlobRecipe] = {}
        self.image_pools: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        if images > 0:
            self._draw_images(images, seed)

    def _draw_images(self, count: int, seed: int) -> None:
        from fraud_pipeline.media.decode import sniff_format

        pools = draw_image_pools(count, seed)
        for is_scam in (True, False):
            for index, data in enumerate(pools[is_scam]):
                mime = "image/png" if sniff_format(data) == "PNG" else "image/jpeg"
                self.image_pools[is_scam].append(self._blob_of(data, mime, BlobRecipe(is_scam, index)))

    def _blob_of(self, data: bytes, mime: str, recipe: BlobRecipe) -> dict[str, Any]:
        cid = blob_cid(data)
        self.blobs[cid] = data
        self.recipes[cid] = recipe
        return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}

    def _new_account(self) -> _Account:
        did = random_did(self.rng)
        word = self.rng.choice(HANDLE_WORDS)
        handle = f"{word}{self.rng.randrange(10_000)}.bsky.social"
        return _Account(did, handle, [])

    def events(self, count: int) -> Iterator[tuple[dict[str, Any], Labeled | None]]:
        """`count` events in time order, each with its label when it is a post create."""
        for index in range(count):
            self.now_us += max(1, int(self.rng.expovariate(self.rate) * 1_000_000))
            if index and index % self.campaign_every == 0:
                self._start_campaign()
            if index and index % self.benign_every == 0 and self.now_us >= self.benign_from_us:
                self._start_benign_group()
            if self.due and self.due[0].due_us <= self.now_us:
                yield self._scheduled_post(heapq.heappop(self.due))
                continue
            yield self._organic()

    # -- organic traffic ----------------------------------------------------------------------
    def _organic(self) -> tuple[dict[str, Any], Labeled | None]:
        roll = self.rng.random()
        account = self.rng.choice(self.accounts)
        if roll < 0.45 or not self.recent_posts:
            if self.blobs and self.rng.random() < IMAGE_ONLY_SHARE:
                return self._image_only_scam(account)
            lone_scam = self.rng.random() < 0.03
            text = self.rng.choice(self.fraud if lone_scam else self.benign)
            return self._post(account, text, label=1 if lone_scam else 0, campaign_id=None)
        if roll < 0.72:
            return self._interaction(account, "app.bsky.feed.like"), None
        if roll < 0.80:
            return self._interaction(account, "app.bsky.feed.repost"), None
        if roll < 0.89:
            return self._follow(account), None
        if roll < 0.93 and account.posts:
            return self._delete(account), None
        if roll < 0.935 and account.posts:
            return self._update(account), None
        if roll < 0.97:
            return self._identity(account), None
        return self._account_event(account, active=self.rng.random() < 0.8), None

    def _image_only_scam(self, account: _Account) -> tuple[dict[str, Any], Labeled]:
        """A scam painted on a picture under an ordinary caption, with no alt text."""
        image = {"alt": "", "image": self.rng.choice(self.image_pools[True])}
        embed = {"$type": "app.bsky.embed.images", "images": [image]}
        event, labeled = self._post(account, self.rng.choice(IMAGE_CAPTIONS), 1, None, embed=embed)
        return event, replace(labeled, shape="image_only")

    def _envelope(self, did: str, collection: str, operation: str, rkey: str, record: Any) -> dict[str, Any]:
        commit: dict[str, Any] = {
            "rev": tid(self.now_us, self.rng.randrange(1024)),
            "operation": operation,
            "collection": collection,
            "rkey": rkey,
        }
        if record is not None:
            commit["record"] = record
            commit["cid"] = record_cid(record)
        return {"did": did, "time_us": self.now_us, "kind": "commit", "commit": commit}

    def _created_at(self) -> tuple[str, int]:
        """Client clock: a little before the relay's time, occasionally skewed by seconds."""
        client_us = self.now_us - self.rng.randrange(50_000, 900_000)
        if self.rng.random() < 0.01:
            client_us -= self.rng.randrange(10_000_000, 3_600_000_000)
        iso = iso_from_us(client_us)
        return iso[:23] + "Z", client_us

    def _post(
        self,
        account: _Account,
        text: str,
        label: int,
        campaign_id: str | None,
        due: _Due | None = None,
        embed: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], Labeled]:
        created_at, client_us = self._created_at()
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": created_at,
            "langs": self.rng.choice(LANGS),
        }
        facets = facets_for(text, self.handles)
        if facets:
            record["facets"] = facets
        if embed is not None:
            pass  # the caller's
        elif due is not None and due.image is not None:
            embed = {"$type": "app.bsky.embed.images", "images": [due.image]}
        elif due is not None and due.link_card:
            embed = {
                "$type": "app.bsky.embed.external",
                "external": {"uri": due.link_card, "title": text[:60], "description": ""},
            }
        elif due is not None and not due.campaign_id:
            embed = None  # a benign group's text alone
        else:
            embed = self._embed(account.did, text, scam=campaign_id is not None)
        if embed is not None:
            record["embed"] = embed
        if campaign_id is None and due is None and self.recent_posts and self.rng.random() < 0.25:
            root = self.rng.choice(self.recent_posts)
            parent = self.rng.choice(self.recent_posts) if self.rng.random() < 0.5 else root
            record["reply"] = {
                "root": {"uri": root[0], "cid": root[1]},
                "parent": {"uri": parent[0], "cid": parent[1]},
            }
        rkey = tid(client_us, self.rng.randrange(1024))
        event = self._envelope(account.did, POST_COLLECTION, "create", rkey, record)
        uri = f"at://{account.did}/{POST_COLLECTION}/{rkey}"
        cid = event["commit"]["cid"]
        account.posts.append((uri, cid, rkey))
        self.recent_posts.append((uri, cid))
        if len(self.recent_posts) > 500:
            del self.recent_posts[:100]
        shape = due.shape if due is not None else None
        group = (due.group_id or None) if due is not None else None
        return event, Labeled(uri, label, campaign_id, shape, group)

    def _blob(self, mime: str) -> dict[str, Any]:
        size = self.rng.randrange(20_000, 900_000)
        data = self.rng.randbytes(32)
        return {"$type": "blob", "ref": {"$link": blob_cid(data)}, "mimeType": mime, "size": size}

    def _image_blob(self, scam: bool) -> dict[str, Any]:
        """A scam image from the pool (scams reuse them), or an ordinary picture of its own: a
        pool image with a few bytes after its end marker (decoders ignore them), so a new CID;
        only campaigns and meme groups show one blob from many accounts."""
        pool = self.image_pools[scam]
        if not pool:
            return self._blob("image/jpeg")
        chosen = self.rng.choice(pool)
        if scam:
            return chosen
        source = chosen["ref"]["$link"]
        suffix = self.rng.randbytes(8)
        recipe = BlobRecipe(False, self.recipes[source].index, suffix)
        return self._blob_of(self.blobs[source] + suffix, chosen["mimeType"], recipe)

    def _video_blob(self) -> dict[str, Any]:
        blob = self._blob("video/mp4")
        if self.image_pools[False]:  # the CDN's thumbnail of this video
            thumbnail = self.rng.choice(self.image_pools[False])["ref"]["$link"]
            self.blobs[blob["ref"]["$link"]] = self.blobs[thumbnail]
            self.recipes[blob["ref"]["$link"]] = replace(self.recipes[thumbnail], thumbnail=True)
        return blob

    def _images(self, scam: bool) -> dict[str, Any]:
        images = []
        for _ in range(1 if scam else self.rng.choice([1, 1, 1, 2, 3, 4])):
            image: dict[str, Any] = {"alt": "", "image": self._image_blob(scam)}
            if self.rng.random() < 0.4:
                image["alt"] = self.rng.choice(["screenshot", "photo of the view", "a cat", "wallet balance"])
            image["aspectRatio"] = {"width": 1200, "height": self.rng.choice([675, 900, 1200, 1600])}
            images.append(image)
        return {"$type": "app.bsky.embed.images", "images": images}

    def _embed(self, did: str, text: str, scam: bool) -> dict[str, Any] | None:
        roll = self.rng.random()
        if roll < (0.15 if scam else 0.07):
            return self._images(scam)
        if roll < 0.085:
            return {
                "$type": "app.bsky.embed.video",
                "video": self._video_blob(),
                "aspectRatio": {"width": 1080, "height": 1920},
            }
        urls = URL_RE.findall(text)
        if roll < 0.20 and urls:
            return {
                "$type": "app.bsky.embed.external",
                "external": {
                    "uri": urls[0],
                    "title": text[:60],
                    "description": text[:120],
                    "thumb": self._blob("image/jpeg"),
                },
            }
        if roll < 0.23 and not scam and self.rng.random() < 0.3:
            site = self.rng.choice(LINK_SITES)
            uri = f"https://{site}/{tid(self.now_us, 1)}"
            return {
                "$type": "app.bsky.embed.external",
                "external": {"uri": uri, "title": f"Article on {site}", "description": ""},
            }
        if roll < 0.26 and self.recent_posts:
            quoted = self.rng.choice(self.recent_posts)
            return {"$type": "app.bsky.embed.record", "record": {"uri": quoted[0], "cid": quoted[1]}}
        if roll < 0.27 and self.recent_posts:
            quoted = self.rng.choice(self.recent_posts)
            return {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": {"$type": "app.bsky.embed.record", "record": {"uri": quoted[0], "cid": quoted[1]}},
                "media": self._images(scam),
            }
        return None

    def _interaction(self, account: _Account, collection: str) -> dict[str, Any]:
        uri, cid = self.rng.choice(self.recent_posts)
        created_at, client_us = self._created_at()
        record = {"$type": collection, "subject": {"uri": uri, "cid": cid}, "createdAt": created_at}
        return self._envelope(account.did, collection, "create", tid(client_us, 7), record)

    def _follow(self, account: _Account) -> dict[str, Any]:
        created_at, client_us = self._created_at()
        subject = self.rng.choice(self.accounts).did
        record = {"$type": "app.bsky.graph.follow", "subject": subject, "createdAt": created_at}
        return self._envelope(account.did, "app.bsky.graph.follow", "create", tid(client_us, 3), record)

    def _delete(self, account: _Account) -> dict[str, Any]:
        uri, _cid, rkey = account.posts.pop(self.rng.randrange(len(account.posts)))
        self.recent_posts = [p for p in self.recent_posts if p[0] != uri]
        return self._envelope(account.did, POST_COLLECTION, "delete", rkey, None)

    def _update(self, account: _Account) -> dict[str, Any]:
        _uri, _cid, rkey = account.posts[-1]
        created_at, _ = self._created_at()
        record = {"$type": POST_COLLECTION, "text": self.rng.choice(self.benign), "createdAt": created_at}
        return self._envelope(account.did, POST_COLLECTION, "update", rkey, record)

    def _identity(self, account: _Account) -> dict[str, Any]:
        self.order += 1
        return {
            "did": account.did,
            "time_us": self.now_us,
            "kind": "identity",
            "identity": {
                "did": account.did,
                "handle": account.handle,
                "seq": self.order,
                "time": iso_from_us(self.now_us),
            },
        }

    def _account_event(self, account: _Account, active: bool) -> dict[str, Any]:
        self.order += 1
        body: dict[str, Any] = {
            "active": active,
            "did": account.did,
            "seq": self.order,
            "time": iso_from_us(self.now_us),
        }
        if not active:
            body["status"] = self.rng.choice(["deactivated", "takendown", "suspended"])
        return {"did": account.did, "time_us": self.now_us, "kind": "account", "account": body}

    # -- scam campaigns -----------------------------------------------------------------------
    def _start_campaign(self) -> None:
        """Schedule one campaign (the next shape in turn) from fresh accounts over a few minutes."""
        self.campaigns += 1
        campaign_id = f"campaign-{self.campaigns:03d}"
        shape = CAMPAIGN_SHAPES[(self.campaigns - 1) % len(CAMPAIGN_SHAPES)]
        text = self.rng.choice(BLAND_TEXTS if shape in ("bland_link", "rotated_domains") else self.fraud)
        domain = f"{self.rng.choice(SCAM_WORDS)}-{self.rng.choice(SCAM_WORDS)}.{self.rng.choice(SCAM_TLDS)}"
        image = self._images(scam=True)["images"][0] if shape == "image_reuse" else None
        size = self.rng.randrange(8, 30)
        window_us = self.rng.randrange(60, 600) * 1_000_000
        for i in range(size):
            account = self._new_account()
            self.accounts.append(account)
            self.handles[account.handle] = account.did
            if shape == "near_duplicate":
                template, words = NEAR_DUPLICATE
                body = template.format(**{slot: self.rng.choice(options) for slot, options in words.items()})
                variant = self._url_variant(body, domain, i)
            elif shape == "rotated_domains":
                rotated = (
                    f"{self.rng.choice(SCAM_WORDS)}{self.rng.randrange(1000)}.{self.rng.choice(SCAM_TLDS)}"
                )
                variant = self._url_variant(text, rotated, i)
            elif shape == "image_reuse":
                variant = self._url_variant(self.rng.choice(IMAGE_CAPTIONS), domain, i)
            else:
                variant = self._url_variant(text, domain, i)
            self.order += 1
            due = _Due(
                self.now_us + self.rng.randrange(window_us),
                self.order,
                campaign_id,
                len(self.accounts) - 1,
                variant,
                shape=shape,
                image=image,
            )
            heapq.heappush(self.due, due)

    def _url_variant(self, text: str, domain: str, i: int) -> str:
        """The campaign's link with a per-account variation (path, query or look-alike host)."""
        style = self.rng.randrange(3)
        code = "".join(self.rng.choice(B32_LOWER) for _ in range(6))
        if style == 0:
            url = f"https://{domain}/{code}"
        elif style == 1:
            url = f"https://{domain}/claim?ref={code}"
        else:
            name, tld = domain.rsplit(".", 1)
            url = f"https://{name}{i % 7 + 1}.{tld}/{code}"
        if URL_RE.search(text):
            return URL_RE.sub(url, text, count=1)
        return f"{text} {url}"

    # -- benign repetition --------------------------------------------------------------------
    def _start_benign_group(self) -> None:
        """Schedule one benign repetition (the next shape in turn) from known organic accounts."""
        self.benign_groups += 1
        group_id = f"benign-{self.benign_groups:03d}"
        shape = BENIGN_SHAPES[(self.benign_groups - 1) % len(BENIGN_SHAPES)]
        size = self.rng.randrange(15, 50)
        window_us = (
            self.rng.randrange(*((300, 900) if shape in ("greeting", "meme") else (900, 3600))) * 1_000_000
        )
        image = self._images(scam=False)["images"][0] if shape == "meme" else None
        text = self.rng.choice(
            {"greeting": GREETINGS, "lyrics": LYRICS, "viral_quote": VIRAL_QUOTES}.get(shape, ("",))
        )
        link = (
            f"https://{self.rng.choice(LINK_SITES)}/{tid(self.now_us, 2)}" if shape == "viral_quote" else ""
        )
        for index in self.rng.sample(range(self.organic_count), min(size, self.organic_count)):
            body = self.rng.choice(MEME_CAPTIONS) if shape == "meme" else text
            self.order += 1
            heapq.heappush(
                self.due,
                _Due(
                    self.now_us + self.rng.randrange(window_us),
                    self.order,
                    "",
                    index,
                    body,
                    label=0,
                    shape=shape,
                    group_id=group_id,
                    image=image,
                    link_card=link,
                ),
            )

    def _scheduled_post(self, due: _Due) -> tuple[dict[str, Any], Labeled]:
        account = self.accounts[due.account_index]
        return self._post(account, due.text, label=due.label, campaign_id=due.campaign_id or None, due=due)


def synthesize(
    texts: list[LabeledText],
    count: int,
    *,
    seed: int = 0,
    rate: float = 50.0,
    start_us: int = DEFAULT_START_US,
) -> Iterator[tuple[dict[str, Any], Labeled | None]]:
    """`count` Jetstream events (with labels for post creates), deterministic for a seed."""
    return Synthesizer(texts, seed=seed, rate=rate, start_us=start_us).events(count)


def labels_path_for(out: Path) -> Path:
    """capture.jsonl[.zst] -> capture.labels.jsonl, beside it."""
    name = out.name
    for suffix in (".zst", ".jsonl", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return out.with_name(name + ".labels.jsonl")


def blobs_path_for(capture: Path) -> Path:
    """capture.jsonl[.zst] -> capture.blobs/, the folder of its drawn image blobs (by CID)."""
    labels = labels_path_for(capture)
    return labels.with_name(labels.name.removesuffix(".labels.jsonl") + ".blobs")


def recipe_path_for(capture: Path) -> Path:
    """capture.jsonl[.zst] -> capture.blobs.json, how to draw its blobs again (`write_capture`
    with `blob_recipe`): a few kB in git where the drawn images would be megabytes."""
    blobs = blobs_path_for(capture)
    return blobs.with_name(blobs.name + ".json")


def write_blob_recipe(path: Path, seed: int, images: int, recipes: dict[str, BlobRecipe]) -> None:
    """One JSON object: the pools' seed and size, and per blob CID
    [scam 0/1, pool index, suffix hex, video thumbnail 0/1]."""
    blobs = {
        cid: [int(r.scam), r.index, r.suffix.hex(), int(r.thumbnail)] for cid, r in sorted(recipes.items())
    }
    document = {"seed": seed, "images": images, "blobs": blobs}
    path.write_bytes(orjson.dumps(document) + b"\n")


def _pool_file(scam: bool, index: int) -> str:
    return f"{'scam' if scam else 'benign'}-{index}"


class RecipeBlobs:
    """A capture's blobs drawn again from its recipe: the pools are drawn once (or read from
    `cache`, a folder of `scam-<i>`/`benign-<i>` files) and each blob is a pool image plus its
    suffix, made when asked for, so a recipe of 1,600 blobs costs its 2 x N pool images in
    memory and on disk, not 1,600 copies."""

    def __init__(self, recipe: Path, cache: Path | None = None) -> None:
        document = orjson.loads(recipe.read_bytes())
        count, seed = int(document["images"]), int(document["seed"])
        self.recipes = {
            cid: BlobRecipe(bool(scam), int(index), bytes.fromhex(suffix), bool(thumbnail))
            for cid, (scam, index, suffix, thumbnail) in document["blobs"].items()
        }
        self.drawn = False
        self.pools = self._read_pools(cache, count) if cache is not None else None
        if self.pools is None:
            self.pools = draw_image_pools(count, seed)
            self.drawn = True
            if cache is not None:
                self._write_pools(cache)

    @staticmethod
    def _read_pools(cache: Path, count: int) -> dict[bool, list[bytes]] | None:
        names = {kind: [cache / _pool_file(kind, i) for i in range(count)] for kind in (True, False)}
        if not all(path.is_file() for paths in names.values() for path in paths):
            return None
        return {kind: [path.read_bytes() for path in paths] for kind, paths in names.items()}

    def _write_pools(self, cache: Path) -> None:
        """Written beside `cache`, then renamed: the folder is complete or absent."""
        assert self.pools is not None
        partial = cache.with_name(cache.name + f".partial-{os.getpid()}")
        partial.mkdir(parents=True, exist_ok=True)
        for kind, pool in self.pools.items():
            for index, data in enumerate(pool):
                (partial / _pool_file(kind, index)).write_bytes(data)
        try:
            partial.rename(cache)
        except OSError:  # another start drew the same recipe first
            shutil.rmtree(partial, ignore_errors=True)

    def get(self, cid: str) -> bytes | None:
        recipe = self.recipes.get(cid)
        if recipe is None or self.pools is None:
            return None
        return self.pools[recipe.scam][recipe.index] + recipe.suffix

    def not_matching(self) -> int:
        """Blobs whose bytes drawn here do not hash to their CID (other fonts or another Pillow
        than where the capture was made); they are served under the capture's CID all the same."""
        return sum(
            blob_cid(self.get(cid) or b"") != cid
            for cid, recipe in self.recipes.items()
            if not recipe.thumbnail
        )


@dataclass
class SynthSummary:
    events: int
    posts: int
    fraud_posts: int
    campaigns: int
    out: Path
    labels: Path
    benign_groups: int = 0
    blobs: Path | None = None  # the drawn images, when asked for
    images: int = 0  # blobs written there


PROGRESS_EVERY = 1000


def write_capture(
    out: Path,
    texts: list[LabeledText],
    count: int,
    *,
    seed: int = 0,
    rate: float = 50.0,
    start_us: int = DEFAULT_START_US,
    progress: Callable[[int], object] | None = None,
    images: int = 0,
    blob_recipe: bool = False,
) -> SynthSummary:
    """Write `count` events as JSONL (zstd-compressed when `out` ends in .zst) plus labels.

    `progress(n)` is told every PROGRESS_EVERY events written (for a progress bar). With
    `images`, that many scam and benign images are drawn and written to `blobs_path_for(out)`,
    or with `blob_recipe` how to draw them again to `recipe_path_for(out)` (the bundled
    capture: `up` draws them at its first start, `media/blob_server.py`)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    labels_out = labels_path_for(out)
    synth = Synthesizer(texts, seed=seed, rate=rate, start_us=start_us, images=images)
    posts = fraud = 0
    buffer = io.BytesIO()
    with open(labels_out, "wb") as labels_file:
        for index, (event, label) in enumerate(synth.events(count), start=1):
            buffer.write(orjson.dumps(event))
            buffer.write(b"\n")
            if progress is not None and index % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
            if label is not None:
                posts += 1
                fraud += label.label
                row = {"uri": label.uri, "label": label.label, "campaign_id": label.campaign_id}
                if label.shape:
                    row["shape"] = label.shape
                if label.group_id:
                    row["group_id"] = label.group_id
                labels_file.write(orjson.dumps(row))
                labels_file.write(b"\n")
    data = buffer.getvalue()
    if out.name.endswith(".zst"):
        # Fixed level and no threads, so the bytes are identical for a seed.
        data = zstandard.ZstdCompressor(level=19).compress(data)
    out.write_bytes(data)
    blobs = None
    if synth.blobs and blob_recipe:
        blobs = recipe_path_for(out)
        write_blob_recipe(blobs, seed, images, synth.recipes)
    elif synth.blobs:
        blobs = blobs_path_for(out)
        blobs.mkdir(exist_ok=True)
        for cid, blob in synth.blobs.items():
            (blobs / cid).write_bytes(blob)
    return SynthSummary(
        count, posts, fraud, synth.campaigns, out, labels_out, synth.benign_groups, blobs, len(synth.blobs)
    )
