"""The files Terraform deploys that the project generates (the dashboard body, the alarms'
settings): each generator prints its file, or writes it where `--output` says, the same way,
so the committed copy is byte for byte what the parity tests regenerate."""

from __future__ import annotations

import click

OUTPUT_OPTION = click.option(
    "--output", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout."
)


def emit(text: str, output: str | None) -> None:
    """Print `text` as it is (no newline added), or write it to `output`."""
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
