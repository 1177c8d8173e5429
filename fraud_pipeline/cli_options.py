"""Options every command shares: which backend, which home folder, which environment, and
`-v` (logs on the terminal). Resolving them also sets up the JSON logs of the command
(`fraud_pipeline.logs`), so every command logs the same way without saying so."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson

from fraud_pipeline.logs import setup_logging
from fraud_pipeline.settings import Settings, SettingsError, load_settings

VERBOSE_KEY = "fraud_pipeline.verbose"


def component_of(context: click.Context) -> str:
    """The log component of a command: `backfill`, `model-train` (the words after the program)."""
    names: list[str] = []
    current: click.Context | None = context
    while current is not None and current.parent is not None:  # the root is the program itself
        names.append(current.info_name or "")
        current = current.parent
    return "-".join(reversed([n for n in names if n])) or "cli"


def is_verbose() -> bool:
    """Whether the running command was given `-v`."""
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().meta.get(VERBOSE_KEY, False))


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --backend/--home/--env/--endpoint-url and pass the resolved `settings`."""

    @click.option(
        "--backend",
        type=click.Choice(["local", "aws"]),
        default=None,
        help="local (embedded, default) or aws (boto3). Env: FRAUD_PIPELINE_BACKEND.",
    )
    @click.option(
        "--home",
        type=click.Path(path_type=Path),
        default=None,
        help="Home folder of the local backend. Env: FRAUD_PIPELINE_HOME (default .fraud-pipeline).",
    )
    @click.option(
        "--env", "env_name", default=None, help="Environment name (dev, prod). Env: FRAUD_PIPELINE_ENV."
    )
    @click.option(
        "--endpoint-url",
        default=None,
        help="AWS endpoint (moto, LocalStack); empty = real AWS. Env: FRAUD_PIPELINE_AWS_ENDPOINT_URL.",
    )
    @click.option(
        "-v", "--verbose", is_flag=True, help="Show every log line (and Dagster's event log) on the terminal."
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        backend: str | None,
        home: Path | None,
        env_name: str | None,
        endpoint_url: str | None,
        verbose: bool,
        **kwargs: Any,
    ) -> Any:
        try:
            settings: Settings = load_settings(
                backend=backend, home=home, env=env_name, aws_endpoint_url=endpoint_url
            )
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from exc
        context = click.get_current_context()
        context.meta[VERBOSE_KEY] = verbose
        setup_logging(component_of(context), settings, verbose=verbose)
        return command(*args, settings=settings, **kwargs)

    return wrapper


def echo_json(payload: Any) -> None:
    """One JSON object on stdout, indented and key-sorted, for people and for scripts alike."""
    click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
