"""Options shared by several commands, defined once so their help text is identical."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace outputs that already exist.")
]
WorkersOpt = Annotated[
    int,
    typer.Option("--workers", "-j", min=0, help="Parallel worker processes (0: one per CPU core)."),
]
JsonOutOpt = Annotated[
    Path | None, typer.Option("--json", help="Also write the result as JSON to this file.")
]
