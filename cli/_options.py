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
CheckpointOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        "-c",
        help="Model weights: a dknet checkpoint or the authors' checkpoint.pth (default: the "
        "bundled model, trained on synthetic rooms).",
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", help="auto (CUDA if available, else CPU), cpu, cuda or cuda:<i>."),
]


def resolve_checkpoint(checkpoint: Path | None) -> Path:
    """The checkpoint to load: the one given, else the bundled default model.

    Raises:
        CheckpointError: no checkpoint was given and the bundled model is missing or damaged.
    """
    if checkpoint is not None:
        return checkpoint
    import logging

    from dknet.bundled import default_model

    bundled = default_model()
    logging.getLogger("dknet").info(
        "no --checkpoint: using the bundled default model %s (trained on synthetic rooms; "
        "see docs/MODEL_CARD.md)",
        bundled.path,
    )
    return bundled.path
