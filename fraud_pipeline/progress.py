"""Progress bars for the long commands (backfill, replay, model train, synth, provision).

Only on a terminal: a bar on stderr that disappears when done, so what stays on the screen
is the command's one-line summary (stdout). Off a terminal (scripts, CI, container logs)
nothing is drawn at all. Built on `rich.progress` (already installed with Dagster; it draws
unknown totals as a spinner and redraws in place without flooding a log) rather than
click's progressbar, which prints its label even when not on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

Advance = Callable[..., None]


def on_terminal() -> bool:
    return Console(stderr=True).is_terminal


@contextmanager
def progress_bar(label: str, total: float | None = None, *, enabled: bool = True) -> Iterator[Advance]:
    """Yields `advance(n=1, *, total=None, label=None)`; draws only on a terminal and when enabled."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda *_, **__: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: float = 1, *, total: float | None = None, label: str | None = None) -> None:
            bar.update(task, advance=n, total=total, description=label)

        yield advance


@contextmanager
def live_line(describe: Callable[[], str], *, enabled: bool = True, every_s: float = 0.5) -> Iterator[None]:
    """A spinner whose text `describe()` refreshes every `every_s` while the body runs
    (for work whose total is unknown: a replay, a provisioning step, a training run)."""
    import threading

    with progress_bar(describe(), enabled=enabled) as advance:
        done = threading.Event()

        def refresh() -> None:
            while not done.wait(every_s):
                advance(0, label=describe())

        thread = threading.Thread(target=refresh, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(every_s * 4)
