"""Dagster code location (`workspace.yaml` loads `fraud_pipeline.orchestration:defs`).

`defs` is built on first access, so importing the package (e.g. for the CLI commands) does not
parse the dbt project or touch any backend. The processes that load it (Dagster's code server
and run workers) log as the `dagster` component (`fraud_pipeline.logs`).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from fraud_pipeline.logs import setup_logging
        from fraud_pipeline.orchestration.definitions import build_definitions
        from fraud_pipeline.settings import load_settings

        settings = load_settings()
        setup_logging("dagster", settings)
        defs = build_definitions(settings)
        globals()["defs"] = defs
        return defs
    raise AttributeError(name)
