"""docs/cost.md shows what benchmarks/bench_cost.py computes from the infra settings today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_cost_table_in_the_docs_is_the_one_the_infra_settings_give() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_cost.py"), "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    )
    table = done.stdout.strip()
    assert "| **total USD / month** |" in table
    assert table in (ROOT / "docs" / "cost.md").read_text(), (
        "docs/cost.md is stale: paste `python benchmarks/bench_cost.py --markdown`"
    )
