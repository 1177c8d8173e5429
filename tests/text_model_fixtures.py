"""Shared helpers for the text model tests: a small labeled file and a quickly trained model."""

from __future__ import annotations

import json
from pathlib import Path

from fraud_pipeline.scoring.featurize import FeatureConfig
from fraud_pipeline.scoring.training import TrainParams

REPO = Path(__file__).resolve().parent.parent
TRAIN_FILE = REPO / "data" / "labeled" / "train.jsonl"

# Small and fast: 2**18 buckets, a few hundred rows.
SMALL_PARAMS = TrainParams(seed=7, C=30.0, features=FeatureConfig(bits=18))

BAD_TEXTS = [
    "",
    "   \n\t  ",
    "🚀🔥💰🚀🔥💰",
    "free crypto " * 9000,  # ~100,000 characters
    "\x00\x01\x02\xff\ud800 binary \udfff garbage \x7f",
    "Привет! 你好 مرحبا שלום こんにちは FREE $BTC ₿ héllo",
]

REAL_TEXTS = [
    "URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! Txt CLAIM to 81010",
    "Elon Musk giveaway: send 0.1 BTC to the wallet below and receive 0.2 BTC back instantly!",
    "Had a lovely walk by the river this morning, the herons were out.",
    "Anyone know a good recipe for sourdough without a stand mixer?",
    "Your account has been compromised. Verify your seed phrase at secure-wallet-support.xyz now",
    "See you at the meeting at 3pm tomorrow",
]


def write_subset(path: Path, rows: int, start: int = 0) -> Path:
    """The first `rows` rows (from `start`) of the project's labeled data, as a JSONL file."""
    lines = TRAIN_FILE.read_text(encoding="utf-8").splitlines()[start : start + rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
