"""Write infra/modules/glue/columns.json from the records module's Arrow schema.

Terraform reads that file for both Glue tables, so the catalog (and Firehose's Parquet
conversion) always has the columns the code writes. Run after changing `records.py`:
`python infra/scripts/gen_glue_columns.py`; `tests/test_infra_schema.py` fails until you do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fraud_pipeline.records import glue_columns

COLUMNS_FILE = Path(__file__).resolve().parents[1] / "modules" / "glue" / "columns.json"


def columns_json() -> str:
    """The file's exact content: one column per line, stable and diff-friendly."""
    return json.dumps(glue_columns(), indent=2) + "\n"


def main() -> int:
    COLUMNS_FILE.write_text(columns_json(), encoding="utf-8")
    print(f"wrote {len(glue_columns())} columns to {COLUMNS_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
