"""`fraud-pipeline` command line.

Each domain owns its commands in its own `commands.py`; this module only lists them and
imports a domain when its command runs, so `fraud-pipeline --help` stays fast and a broken
optional domain cannot break the others.
"""

from __future__ import annotations

import importlib

import click

# command name -> (module, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("fraud_pipeline.workers.commands", "up"),
    "replay": ("fraud_pipeline.workers.commands", "replay"),
    "provision": ("fraud_pipeline.workers.commands", "provision"),
    "poll": ("fraud_pipeline.workers.commands", "poll"),
    "deliver": ("fraud_pipeline.workers.commands", "deliver"),
    "ingest": ("fraud_pipeline.ingest.commands", "ingest"),
    "synth": ("fraud_pipeline.ingest.commands", "synth"),
    "model": ("fraud_pipeline.scoring.commands", "model"),
    "serve": ("fraud_pipeline.serving.commands", "serve"),
    "backfill": ("fraud_pipeline.orchestration.commands", "backfill"),
    "query": ("fraud_pipeline.orchestration.commands", "query"),
    "dashboard": ("fraud_pipeline.dashboard.commands", "dashboard"),
    "policy": ("fraud_pipeline.policy.commands", "policy"),
    "labeler": ("fraud_pipeline.labeler.commands", "labeler"),
    "labels": ("fraud_pipeline.labeler.commands", "labels"),
    "status": ("fraud_pipeline.status_command", "status"),
    "media": ("fraud_pipeline.media.commands", "media"),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that domain is not built yet
            raise
        command = getattr(module, attribute, None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fraud-pipeline")
def main() -> None:
    """Real-time fraud and scam detection for Bluesky."""


if __name__ == "__main__":
    main()
