"""Turn dknet's domain errors into one red line, a hint and an exit code."""

from __future__ import annotations

import os

from rich.markup import escape

from dknet.errors import DKNetError

from ._console import err

#: Exit code for a domain error (bad input, missing build, ...). Usage errors keep Click's 2.
EXIT_ERROR = 1


def report(exc: DKNetError) -> int:
    """Print ``exc`` as one line (plus its hint) on stderr and return the exit code."""
    err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
    if exc.hint:
        err.print(f"[dim]hint:[/] {escape(exc.hint)}", highlight=False)
    if os.environ.get("DKNET_DEBUG") != "1":
        err.print("[dim]set DKNET_DEBUG=1 for the full traceback[/]", highlight=False)
    return EXIT_ERROR
