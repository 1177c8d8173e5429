"""Dagster code location (`workspace.yaml` loads `fraud_pipeline.orchestration:defs`).

`defs` is built on first access, so importing the package (e.g. for the CLI commands) does not
parse the dbt project or touch any backend.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from fraud_pipeline.orchestration.definitions import build_definitions

        defs = build_definitions()
        globals()["defs"] = defs
        return defs
    raise AttributeError(name)
