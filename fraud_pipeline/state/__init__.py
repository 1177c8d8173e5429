"""The state port and its adapters: `open_state(settings)` picks DynamoDB or SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraud_pipeline.state.base import StateStore

if TYPE_CHECKING:
    from fraud_pipeline.settings import Settings

__all__ = ["StateError", "StateStore", "open_state"]


class StateError(RuntimeError):
    """A state-store call failed (missing table, bad key, backend unreachable)."""


def open_state(settings: Settings) -> StateStore:
    """The state store of the configured backend (adapters import lazily)."""
    if settings.backend == "aws":
        from fraud_pipeline.state.dynamodb import DynamoDbStateStore, dynamodb_client

        # An endpoint URL is an emulator (moto, LocalStack): sets are written one UpdateItem at
        # a time there (see DynamoDbStateStore); AWS itself gets batched transactions.
        return DynamoDbStateStore(
            dynamodb_client(settings.aws_region, settings.endpoint_url),
            settings.state_table,
            set_writes="update" if settings.endpoint_url else "transact",
        )
    from fraud_pipeline.state.sqlite import SqliteStateStore

    return SqliteStateStore(settings.state_path)
