"""A labelled Jetstream-format capture of account behaviour: scam accounts beside busy honest ones.

The account signals need a test bed where honest accounts also reply a lot: a support desk
answering dozens of customers with one template, a friendly person answering many people,
ordinary accounts following and posting. Beside them four kinds of scam account:

- recovery: a profile selling account recovery with WhatsApp and a phone number, then bland
  replies ("hi, check my profile") to dozens of people within the hour;
- impersonator: a brand's or well-known account's display name on a handle that is not theirs;
- follow_burst: a fresh account following a hundred accounts in a minute, bland profile;
- crypto_shill: a "signals / guaranteed returns / Telegram" profile and one repeated reply.

Some scam accounts are aged (first seen weeks ago), as bought or taken-over accounts are.
Events come out in time order as Jetstream JSON lines (bytes), so the same capture feeds the
normalizer and the tracker; `labels` maps each account's DID to its kind ("" = honest).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
SCAM_KINDS: tuple[str, ...] = ("recovery", "impersonator", "follow_burst", "crypto_shill")

_BENIGN_BIOS = (
    "Teacher, gardener, terrible at chess.",
    "PhD student in ecology. Birds, moss and bad puns.",
    "Dad of two. Football on weekends. Views my own.",
    "Illustrator. Commissions closed. she/her",
    "Small bakery in Porto. Orders via WhatsApp +351 912 345 678",
    "Retired engineer. I post about trains and weather.",
    "",
)
_BENIGN_REPLIES = (
    "ha, that is so true",
    "congrats on the new job!",
    "I had the same problem last week, restarting fixed it",
    "beautiful photo, where was this taken?",
    "totally agree with you here",
    "thanks for sharing this, very useful",
)
_SUPPORT_TEMPLATE = "Sorry to hear that! Please send us a DM with your order number and we will look into it."
_SCAM_BIOS = {
    "recovery": (
        "Certified account recovery expert. Hacked or lost funds? WhatsApp me +1 (555) 201-{n:04d}",
        "Recover your account fast 💯 ethical hacker, contact on Telegram t.me/fixer{n} or +44 7700 9{n:05d}",
    ),
    "crypto_shill": (
        "Crypto signals daily 🚀 guaranteed returns, DM me on telegram",
        "Forex & binary options mentor. 10x your money. WhatsApp +234 803 {n:03d} 4455",
    ),
}
_SCAM_REPLIES = ("hi, check my profile", "hello dear, see my bio", "DM me, I can help you with this")
_IMPERSONATED = ("MetaMask Support", "Coinbase Help", "Bluesky Support", "Elon Musk", "Binance Official")


@dataclass
class AccountCapture:
    events: list[bytes] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # did -> scam kind, "" = honest


def _did(kind: str, n: int) -> str:
    return f"did:plc:{kind[:6]}{n:018d}"


def _commit(did: str, t: int, collection: str, rkey: str, record: Mapping[str, object]) -> bytes:
    commit = {"rev": "r", "operation": "create", "collection": collection, "rkey": rkey, "record": record}
    return orjson.dumps({"did": did, "time_us": t, "kind": "commit", "commit": commit})


def _profile(did: str, t: int, name: str, bio: str) -> bytes:
    record = {"$type": "app.bsky.actor.profile", "displayName": name, "description": bio}
    return _commit(did, t, "app.bsky.actor.profile", "self", record)


def _identity(did: str, t: int, handle: str) -> bytes:
    return orjson.dumps(
        {"did": did, "time_us": t, "kind": "identity", "identity": {"did": did, "handle": handle}}
    )


def _follow(did: str, t: int, subject: str, n: int) -> bytes:
    record = {"$type": "app.bsky.graph.follow", "subject": subject, "createdAt": "2026-01-01T00:00:00Z"}
    return _commit(did, t, "app.bsky.graph.follow", f"f{n}", record)


def _reply(did: str, t: int, to: str, text: str, n: int) -> bytes:
    parent = {"uri": f"at://{to}/app.bsky.feed.post/p{n}", "cid": "bafyparent"}
    record = {"$type": "app.bsky.feed.post", "text": text, "reply": {"root": parent, "parent": parent}}
    return _commit(did, t, "app.bsky.feed.post", f"r{n}", record)


def synth_accounts(
    *,
    honest: int = 2_000,
    support_desks: int = 20,
    friendly: int = 40,
    scams_per_kind: int = 30,
    follows_per_honest: int = 12,
    start_us: int = 1_764_000_000_000_000,
    seed: int = 7,
) -> AccountCapture:
    """One hour of account events (plus each aged account's first sighting weeks before)."""
    rng = random.Random(seed)
    timed: list[tuple[int, bytes]] = []
    out = AccountCapture()
    people = [_did("person", i) for i in range(honest)]
    serial = iter(range(10**9))

    def at(offset_us: int) -> int:
        return start_us + offset_us

    def aged(did: str) -> None:
        timed.append((start_us - rng.randint(5, 25) * DAY_US, _identity(did, 0, f"{did[8:20]}.bsky.social")))

    for did in people:
        out.labels[did] = ""
        aged(did)
        timed.append(
            (at(rng.randrange(HOUR_US)), _profile(did, 0, "Sam " + did[-4:], rng.choice(_BENIGN_BIOS)))
        )
        for _ in range(follows_per_honest):
            timed.append((at(rng.randrange(HOUR_US)), _follow(did, 0, rng.choice(people), next(serial))))
        for _ in range(rng.randint(0, 3)):
            text = rng.choice(_BENIGN_REPLIES)
            timed.append((at(rng.randrange(HOUR_US)), _reply(did, 0, rng.choice(people), text, next(serial))))
    for i in range(support_desks):
        did = _did("support", i)
        out.labels[did] = ""
        aged(did)
        timed.append((at(0), _profile(did, 0, f"Acme {i} Support", "Official help desk. Mon-Fri 9-17.")))
        for _ in range(rng.randint(30, 60)):
            timed.append(
                (
                    at(rng.randrange(HOUR_US)),
                    _reply(did, 0, rng.choice(people), _SUPPORT_TEMPLATE, next(serial)),
                )
            )
    for i in range(friendly):
        did = _did("friend", i)
        out.labels[did] = ""
        aged(did)
        timed.append((at(0), _profile(did, 0, f"Kim {i}", "Here for the conversations.")))
        for _ in range(rng.randint(25, 50)):
            ending = rng.choice(["!", ":)", "", "haha", "for real"])
            text = f"{rng.choice(_BENIGN_REPLIES)} {ending} #{next(serial)}"
            timed.append((at(rng.randrange(HOUR_US)), _reply(did, 0, rng.choice(people), text, next(serial))))
        for _ in range(20):  # an eager follower, but over the hour, not in a minute
            timed.append((at(rng.randrange(HOUR_US)), _follow(did, 0, rng.choice(people), next(serial))))
    for kind in SCAM_KINDS:
        for i in range(scams_per_kind):
            did = _did(kind, i)
            out.labels[did] = kind
            born = rng.randrange(HOUR_US // 2)
            if i % 5 == 0:
                aged(did)  # a bought or taken-over account
            handle = f"{kind[:4]}{i}x.bsky.social"
            timed.append((at(born), _identity(did, 0, handle)))
            if kind in _SCAM_BIOS:
                bio = rng.choice(_SCAM_BIOS[kind]).format(n=i)
                timed.append((at(born + 1), _profile(did, 0, f"Helper {i}", bio)))
            elif kind == "impersonator":
                timed.append(
                    (at(born + 1), _profile(did, 0, _IMPERSONATED[i % len(_IMPERSONATED)], "DM us for help"))
                )
            else:
                timed.append((at(born + 1), _profile(did, 0, f"Jo {i}", "just vibes")))
            if kind == "follow_burst":
                for k in range(rng.randint(60, 150)):
                    timed.append(
                        (at(born + 2 + k * 400_000), _follow(did, 0, rng.choice(people), next(serial)))
                    )
            if kind in ("recovery", "crypto_shill", "impersonator"):
                text = rng.choice(_SCAM_REPLIES)
                for k in range(rng.randint(20, 40)):
                    t = born + 1_000_000 + k * rng.randint(20, 60) * 1_000_000
                    timed.append((at(t), _reply(did, 0, rng.choice(people), text, next(serial))))
    timed.sort(key=lambda pair: pair[0])
    for t, raw in timed:
        event = orjson.loads(raw)
        event["time_us"] = t
        out.events.append(orjson.dumps(event))
    return out
