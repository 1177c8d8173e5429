"""docs/cost.md shows what benchmarks/bench_cost.py computes from the infra settings today."""

from __future__ import annotations

import json
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


def test_the_account_scenarios_come_from_the_committed_measurement() -> None:
    """The table reads `benchmarks/account_event_cost.json` (measured with `--measure`, about
    100 s), so it never moves with CPU noise, and the file says what it measured."""
    measurement = json.loads((ROOT / "benchmarks" / "account_event_cost.json").read_text())
    assert measurement["measured_on"] and measurement["account_events"] > 0
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_cost.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["accounts"]["measured"] == measurement
