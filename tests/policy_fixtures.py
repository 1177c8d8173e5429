"""Test helpers for the detection policy: the project's policy files, edited per test."""

from __future__ import annotations

from pathlib import Path

from fraud_pipeline.policy.source import FolderPolicySource, default_policy_dir


def policy_files() -> dict[str, bytes]:
    """The project's own policy files (name -> bytes)."""
    return FolderPolicySource(default_policy_dir()).read()


def fixed_thresholds(
    text: tuple[float, float] = (0.49, 0.95), combined: tuple[float, float] = (0.6, 0.97)
) -> dict[str, bytes]:
    """The project's policy with known (review, label) points for the text and media models
    and the combined score: tests of the verdict logic must not move when `policy calibrate`
    rewrites the shipped points."""
    import re

    files = policy_files()
    body = files["verdict.yaml"].decode()
    for tier, (review, label) in (("text_model", text), ("media_model", text), ("combined", combined)):
        pattern = re.compile(rf"(\n  {tier}:\n(?:    #[^\n]*\n)*    review: )[0-9.]+(\n    label: )[0-9.]+")
        body, count = pattern.subn(rf"\g<1>{review}\g<2>{label}", body)
        assert count == 1, tier
    files["verdict.yaml"] = body.encode()
    return files


def edited(name: str, old: str, new: str, files: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The policy files with one exact text replaced in one file (the test fails loudly if absent)."""
    files = dict(files or policy_files())
    text = files[name].decode()
    assert old in text, f"{old!r} not in {name}"
    files[name] = text.replace(old, new, 1).encode()
    return files


def line_of(files: dict[str, bytes], name: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle` in one policy file."""
    seen = 0
    for number, line in enumerate(files[name].decode().splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {name}")


def write_policy(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.yaml"):
        stale.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder
