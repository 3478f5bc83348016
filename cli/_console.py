"""Rich consoles and progress bars for the CLI.

Results (tables, paths, JSON) go to stdout; logs, progress and errors go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_state = {"quiet": False}


def configure(*, verbose: int = 0, quiet: bool = False) -> None:
    """Set the log level (-v: INFO, -vv: DEBUG; default WARNING) and progress visibility."""
    _state["quiet"] = quiet
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger("dknet")
    root.handlers[:] = [RichHandler(console=err, show_path=False, rich_tracebacks=False)]
    root.setLevel(level)
    root.propagate = False
    quiet_third_party(verbose == 0)


#: Loggers of libraries dknet uses whose warnings are noise to a user (shown with -v).
_THIRD_PARTY_LOGGERS = ("torch", "spconv", "cumm", "numba")


def quiet_third_party(quiet: bool) -> None:
    """Keep other libraries' warnings off the terminal unless -v is given.

    Python warnings are ignored, and torch's own logger (which prints e.g. torch.fx's
    ``is_fx_tracing`` warning when spconv is imported) is told, through ``TORCH_LOGS`` before
    torch is imported and directly once it is, to report errors only. dknet's own warnings are
    log records of the ``dknet`` logger, so they still show.
    """
    if not quiet:
        return
    warnings.filterwarnings("ignore")
    # torch resets its loggers' levels when it is imported; TORCH_LOGS="-torch" makes that reset
    # choose ERROR. A value the user set wins.
    os.environ.setdefault("TORCH_LOGS", "-torch")
    for name in _THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def progress_enabled() -> bool:
    """Progress bars show only on an interactive stderr and without --quiet."""
    return not _state["quiet"] and err.is_terminal and sys.stderr.isatty()


def make_progress() -> Progress:
    """A transient progress bar with count, rate-friendly columns, elapsed time and ETA."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not progress_enabled(),
    )


def track(items: Iterable[T], *, total: int | None, description: str) -> Iterator[T]:
    """Iterate with a progress bar (no bar when stderr is not a terminal or --quiet)."""
    with make_progress() as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
