"""A brute-force reference for `AccountWindows.reaching`, shared by the tests of its fast paths."""

from __future__ import annotations

from fraud_pipeline.accounts.windows import AccountWindows


def brute_reaching(
    windows: AccountWindows, latest: dict[str, int], bars: tuple[int, int, int]
) -> dict[str, tuple[bool, bool, bool]]:
    """`reaching` counted account by account through the windows' own single counts."""
    out = {}
    for did, t in latest.items():
        hit = (
            windows.reply_targets(did, t) >= bars[0],
            windows.repeated_text(did, t) >= bars[1],
            windows.follow_count(did, t) >= bars[2],
        )
        if any(hit):
            out[did] = hit
    return out
